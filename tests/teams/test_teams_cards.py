"""Adaptive Cards: their shapes as Teams requires them, and submitted cards read back into the
very command lines people type, which the shared command table parses."""

from __future__ import annotations

import json
import shlex
from typing import Any

import pytest

from bot import command_table
from bot.incident_ids import after_ref
from bot.teams import cards
from tests.support.catalogs import PAGING
from workflows.catalog.load import parse_catalog
from workflows.ports import InvalidRequest

INPUTS = {"Input.Text", "Input.ChoiceSet", "Input.Toggle", "Input.Date"}


def _valid(card: dict[str, Any]) -> dict[str, Any]:
    """The parts of the 1.5 schema Teams enforces: type, version, body elements with a type,
    inputs with unique ids, Action.Execute with a verb, Action.OpenUrl with a url."""
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.5"
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    ids = [e["id"] for e in card["body"] if e["type"] in INPUTS]
    assert len(ids) == len(set(ids))
    for element in card["body"]:
        if element["type"] == "TextBlock":
            assert element["text"] and element["wrap"] is True
        elif element["type"] == "Input.ChoiceSet":
            assert element["choices"] and all({"title", "value"} <= set(c) for c in element["choices"])
        else:
            assert element["type"] in INPUTS
    for action in card.get("actions", []):
        assert action["type"] in ("Action.Execute", "Action.OpenUrl")
        assert action["title"]
        assert action.get("verb") if action["type"] == "Action.Execute" else action["url"]
    json.dumps(card)  # plain JSON
    return card


def test_a_page_card_has_acknowledge_and_refreshes_until_acknowledged() -> None:
    live = _valid(cards.page_card(incident_ref="INC-7", incident_id=7, title="Checkout down",
                                  text="*P1* checkout :rotating_light:", acknowledged_by=None,
                                  user_ids=["aad-alice", "aad-alice"]))
    assert live["actions"] == [{"type": "Action.Execute", "verb": "ack", "title": "Acknowledge",
                                "data": {"incident": 7}, "style": "positive"},
                               {"type": "Action.Execute", "verb": "pass", "title": "Escalate",
                                "data": {"incident": 7}},
                               {"type": "Action.Execute", "verb": "snooze", "title": "Snooze 5m",
                                "data": {"incident": 7}}]
    assert live["refresh"] == {"action": {"type": "Action.Execute", "verb": "refresh",
                                          "data": {"incident": 7}}, "userIds": ["aad-alice"]}
    assert live["body"][1]["text"] == "**P1** checkout \U0001f6a8"
    done = _valid(cards.page_card(incident_ref="INC-7", incident_id=7, title="Checkout down",
                                  text="paged", acknowledged_by="Alice"))
    assert "actions" not in done and "refresh" not in done
    assert done["body"][-1]["text"].endswith("Acknowledged by Alice")


def test_a_message_card_converts_slack_marks_and_carries_buttons_and_links() -> None:
    card = _valid(cards.message_card(
        text="*Declared* <https://x.example/i|INC-7>\n\nRun `/incident ack` :warning: at 10:30:00",
        buttons=[("resolve", "Resolve", "7")], links=[("Runbook", "https://runbooks.example")],
        key="effect-1"))
    texts = [b["text"] for b in card["body"]]
    assert texts == ["**Declared** [INC-7](https://x.example/i)",
                     "Run /incident ack \u26a0\ufe0f at 10:30:00"]
    assert card["body"][1]["spacing"] == "Medium" and card["body"][0]["id"] == "firebell-key:effect-1"
    assert card["actions"] == [
        {"type": "Action.Execute", "verb": "resolve", "title": "Resolve", "data": {"value": "7"}},
        {"type": "Action.OpenUrl", "title": "Runbook", "url": "https://runbooks.example"}]


def test_the_declare_form_reads_back_as_the_declare_command() -> None:
    form = _valid(cards.declare_form(services=[("Checkout API", "checkout")],
                                     severities=["critical", "major"], title="Checkout down"))
    fields = {e["id"]: e for e in form["body"] if "id" in e}
    assert set(fields) == {"title", "service", "severity", "urgency", "environment",
                           "description", "drill", "security", "privacy", "compliance"}
    assert fields["title"]["value"] == "Checkout down" and fields["drill"]["type"] == "Input.Toggle"
    assert form["actions"][0]["verb"] == "declare"
    submitted = {"title": "Checkout down drill=yes", "service": "checkout", "severity": "critical",
                 "urgency": "high", "environment": "production",
                 "description": "5xx on pay; see 'grafana'", "drill": "false",
                 "security": "true", "privacy": "false", "compliance": "false"}
    line = cards.read_form("declare", submitted)
    assert line.startswith("incident declare service=checkout severity=critical urgency=high "
                           "environment=production ")
    command, *rest = shlex.split(line)
    entry, text = command_table.find(command, " ".join(shlex.quote(w) for w in rest))
    args = entry.read(text, parse_catalog(PAGING))
    assert entry.words == ("incident", "declare")
    assert dict(args.options) == {"service": "checkout", "severity": "critical", "urgency": "high",
                                  "environment": "production",
                                  "description": "5xx on pay; see 'grafana'"}
    # The title stays one phrase: nothing typed in it becomes an option.
    assert list(args.words) == ["security", "Checkout down drill=yes"]


@pytest.mark.parametrize(("verb", "data", "words", "expected"), [
    # The live card's Update status / Set role / Escalate: the bare command, which opens its
    # form (bot/teams/forms.py); a card from before the shared forms, inputs and all, too.
    ("status", {"value": "7"}, ("incident", "status"), "7"),
    ("role", {"value": "7"}, ("incident", "role"), "7"),
    ("escalate", {"value": "7"}, ("incident", "escalate"), "7"),
    ("status", {"incident": 7, "stage": "Identified", "text": "bad deploy"},
     ("incident", "status"), "7"),
    ("ack", {"incident": 7}, ("incident", "ack"), "7"),
    ("resolve", {"value": "7"}, ("incident", "resolve"), "7"),
    ("take", {"value": "3"}, ("oncall", "take"), "3"),
])
def test_forms_and_buttons_read_back_as_their_commands(
    verb: str, data: dict[str, Any], words: tuple[str, ...], expected: str
) -> None:
    line = cards.read_form(verb, data)
    assert line == " ".join([*words, expected])
    command, _, text = line.partition(" ")
    entry, rest = command_table.find(command, text)
    assert entry.words == words
    if verb in ("status", "role", "escalate"):
        assert entry.form is not None and after_ref(rest) == ""  # bare: the form opens
    else:
        entry.read(rest, parse_catalog(PAGING))  # the table's own parser takes it


def test_an_unknown_verb_is_refused() -> None:
    with pytest.raises(InvalidRequest):
        cards.read_form("rm -rf", {"value": "1"})
