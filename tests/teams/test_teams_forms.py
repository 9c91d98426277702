"""The command table's forms on Teams, through real HTTP with signed Bot Framework tokens: each
opens as an Adaptive Card from its bare command (typed to the bot in the incident's channel) or
from the live card's button (an `adaptiveCard/action` invoke with the button's verb and data),
is submitted as Teams submits it (one `Action.Execute` whose data is the submit's data merged
with the inputs' values, all strings) and changes the incident; a person not in the catalog
brings the form back saying so; a list past 100 choices is a typeahead answered through
`application/search`. Every card is checked against the Adaptive Card schema's basics."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot import command_forms
from bot.forms import Choice, Field, Form
from bot.teams import forms
from tests.teams.fakes import ALICE, APP_ID, STRANGER, TENANT, TeamsHarness, message, teams_catalog
from tests.teams.story import AAD, TeamsWorld, card_words, personal
from workflows.catalog.model import Person
from workflows.clock import FakeClock
from workflows.model import Stage

pytestmark = pytest.mark.slow

START = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
DECLARE = "incident declare service=checkout severity=critical urgency=high Checkout down"
CARD = "application/vnd.microsoft.card.adaptive"


# the Adaptive Card schema's basics (1.5, as Teams renders it) -----------------------------------
ELEMENTS = {"TextBlock", "Container", "FactSet", "ColumnSet", "Column", "Image", "RichTextBlock",
            "ActionSet"}
INPUTS = {"Input.Text", "Input.ChoiceSet", "Input.Toggle", "Input.Date", "Input.Number",
          "Input.Time"}
ACTIONS = {"Action.Execute", "Action.OpenUrl", "Action.Submit", "Action.ShowCard",
           "Action.ToggleVisibility"}
CHOICE_STYLES = {"compact", "expanded", "filtered"}


def valid_card(card: dict[str, Any]) -> dict[str, Any]:
    """Known types, version <= 1.5, every input with a unique id (and a label, and an error
    message when required), Action.Execute with a verb and a title, choice sets with choices
    (at most 100) or a Data.Query."""
    assert card["type"] == "AdaptiveCard"
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    major, minor = (int(n) for n in card["version"].split("."))
    assert (major, minor) <= (1, 5), card["version"]
    ids: list[str] = []

    def element(item: dict[str, Any]) -> None:
        kind = item["type"]
        assert kind in ELEMENTS | INPUTS, kind
        if kind == "TextBlock":
            assert isinstance(item["text"], str) and item["text"]
        if kind == "Container":
            for inner in item["items"]:
                element(inner)
        if kind in INPUTS:
            assert item.get("id"), item
            ids.append(item["id"])
            assert item.get("label"), item
            if item.get("isRequired"):
                assert item.get("errorMessage"), item
        if kind == "Input.ChoiceSet":
            assert item.get("style", "compact") in CHOICE_STYLES
            assert all({"title", "value"} == set(c) for c in item["choices"])
            assert len(item["choices"]) <= forms.CHOICES_LIMIT
            query = item.get("choices.data")
            assert item["choices"] or query, item
            if query is not None:
                assert query["type"] == "Data.Query" and query["dataset"]
        if kind == "Input.Toggle":
            assert item["title"] and {item["valueOn"], item["valueOff"]} == {"true", "false"}

    for item in card["body"]:
        element(item)
    assert len(ids) == len(set(ids)), ids
    for action in card.get("actions", []):
        assert action["type"] in ACTIONS and action["title"]
        if action["type"] == "Action.Execute":
            assert action["verb"] and isinstance(action.get("data", {}), dict)
    json.dumps(card)
    return card


def inputs(card: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {i["id"]: i for i in card["body"] if i["type"] in INPUTS}


def submit_action(card: dict[str, Any]) -> dict[str, Any]:
    [action] = card["actions"]
    assert action["type"] == "Action.Execute" and action["verb"].startswith("form:")
    return dict(action)


# the Teams world: Alice, Bob and Erin on Teams, incident channels made through Graph -------------
@pytest.fixture
def world(tmp_path: Path) -> Iterator[TeamsWorld]:
    made = TeamsWorld(tmp_path, clock=FakeClock(START))
    yield made
    made.close()


def _declare(world: TeamsWorld) -> tuple[int, str]:
    world.say("alice", DECLARE)  # the answer, or Alice's page if it is quicker
    world.wait(lambda: [s for s in world.to(personal("alice"))
                        if str(s.body.get("text")).startswith("Declared INC-1")])
    channel = world.wait(lambda: [i.channel for i in world.incidents() if i.channel])[0]
    [incident] = world.incidents()
    return incident.id, channel


def _incident(world: TeamsWorld) -> Any:
    [incident] = world.incidents()
    return incident


def _thread(channel: str) -> str:
    return f"{channel};messageid=1700000000042"


def _bare(world: TeamsWorld, channel: str, words: str, *, person: str = "alice") -> dict[str, Any]:
    """`person` types `words` to the bot in the incident's channel; the card it answers with."""
    thread = _thread(channel)
    before = len(world.to(thread))
    activity = message(world.service_url, f"<at>Firebell</at> {words}", user=AAD[person],
                       conversation=thread, kind="channel",
                       entities=[{"type": "mention", "text": "<at>Firebell</at>",
                                  "mentioned": {"id": f"28:{APP_ID}", "name": "Firebell"}}],
                       channelData={"tenant": {"id": TENANT}, "channel": {"id": channel}})
    assert world.post(activity).status_code == 200
    sent = world.wait(lambda: world.to(thread)[before:])[0]
    [attachment] = sent.body["attachments"]
    assert attachment["contentType"] == CARD
    return valid_card(attachment["content"])


def _live_card(world: TeamsWorld, channel: str) -> dict[str, Any]:
    """The live incident card as posted in the incident's channel."""
    [posted] = world.wait(lambda: [s for s in world.microsoft.sent if s.method == "POST"
                                   and channel in s.path and '"FactSet"' in json.dumps(s.body)])
    return valid_card(posted.body["attachments"][0]["content"])


def _press(world: TeamsWorld, channel: str, verb: str, *, person: str = "alice") -> dict[str, Any]:
    """`person` presses the live card's button `verb`: the card the invoke answers with."""
    [button] = [a for a in _live_card(world, channel)["actions"] if a.get("verb") == verb]
    assert button["data"] == {"value": str(_incident(world).id)}
    return valid_card(world.invoke(person, verb, button["data"], conversation=_thread(channel)))


def _submit(world: TeamsWorld, card: dict[str, Any], values: dict[str, str], *,
            person: str = "alice", channel: str | None = None) -> dict[str, Any]:
    """Submit `card` as Teams does: the submit's data merged with the inputs' values."""
    action = submit_action(card)
    answer = world.invoke(person, action["verb"], {**action["data"], **values},
                          conversation=_thread(channel) if channel else None)
    return valid_card(answer)


# the forms ------------------------------------------------------------------------------------
def test_status_form_from_the_bare_command_and_from_the_card_button(world: TeamsWorld) -> None:
    incident_id, channel = _declare(world)
    card = _bare(world, channel, "incident status")
    assert submit_action(card)["verb"] == "form:incident status"
    assert f"INC-{incident_id}" in card_words(card)
    fields = inputs(card)
    stage = fields["stage"]
    assert (stage["type"], stage["style"], stage["value"]) == ("Input.ChoiceSet", "compact",
                                                                "Investigating")
    assert [c["value"] for c in stage["choices"]] == [s.value for s in Stage]
    assert fields["text"]["isMultiline"] is True and fields["text"]["isRequired"] is True
    assert fields["audience"]["isMultiSelect"] is True and fields["audience"]["isRequired"] is False
    assert [c["value"] for c in fields["audience"]["choices"]] == ["stakeholders", "public"]

    done = _submit(world, card, {"stage": "Identified", "text": "A bad deploy; rolling back",
                                 "audience": "stakeholders"}, channel=channel)
    assert "Status update posted (also to stakeholders)." in card_words(done)
    assert "actions" not in done
    assert _incident(world).stage == Stage.IDENTIFIED
    [update] = world.events(incident_id, "status_update")
    assert update.text == "A bad deploy; rolling back" and update.actor == "alice"
    assert update.data["audience"] == ["internal", "stakeholders"]

    # The live card's "Update status" button answers with the same form, as it is now.
    card = _press(world, channel, "status", person="bob")
    assert inputs(card)["stage"]["value"] == "Identified"
    done = _submit(world, card, {"stage": "Monitoring", "text": "Error rate normal",
                                 "audience": ""}, person="bob", channel=channel)
    assert "Status update posted." in card_words(done)
    assert _incident(world).stage == Stage.MONITORING
    latest = world.events(incident_id, "status_update")[-1]
    assert (latest.actor, latest.data["audience"]) == ("bob", ["internal"])


def test_role_form_offers_the_catalog_people_and_refuses_a_stranger_in_the_form(
        world: TeamsWorld) -> None:
    _, channel = _declare(world)
    card = _press(world, channel, "role")
    fields = inputs(card)
    assert [c["value"] for c in fields["role"]["choices"]] == [
        "commander", "comms", "customer", "scribe"]
    person = fields["person"]
    assert person["style"] == "compact" and "isMultiSelect" not in person
    assert {c["title"]: c["value"] for c in person["choices"]} == {
        "Alice Doe": AAD["alice"], "Bob Brandt": AAD["bob"], "Erin Engel": AAD["erin"]}

    # Someone Teams knows but the catalog does not (a card from before a catalog change, say):
    # the form comes back, filled in as submitted, saying so under the person.
    again = _submit(world, card, {"role": "comms", "person": STRANGER}, channel=channel)
    body = again["body"]
    at = next(n for n, item in enumerate(body) if item.get("id") == "person")
    assert body[at + 1]["color"] == "Attention"
    assert "not in Firebell's catalog" in body[at + 1]["text"]
    assert inputs(again)["role"]["value"] == "comms"
    assert submit_action(again)["data"] == submit_action(card)["data"]
    assert "comms" not in _incident(world).roles

    done = _submit(world, again, {"role": "comms", "person": AAD["erin"]}, channel=channel)
    assert "Communications lead: Erin Engel." in card_words(done)
    assert _incident(world).roles["comms"] == "erin"

    typed = _bare(world, channel, "incident role")  # the bare command: the same form
    assert submit_action(typed)["verb"] == "form:incident role"
    _submit(world, typed, {"role": "scribe", "person": AAD["bob"]}, channel=channel)
    assert _incident(world).roles["scribe"] == "bob"


def test_severity_form_changes_the_severity_or_sets_the_priority(world: TeamsWorld) -> None:
    incident_id, channel = _declare(world)
    card = _bare(world, channel, "incident severity")
    fields = inputs(card)
    assert fields["severity"]["value"] == "critical" and fields["priority"]["isRequired"] is False
    done = _submit(world, card, {"severity": "major", "priority": ""}, channel=channel)
    assert f"INC-{incident_id} is now P2." in card_words(done)
    assert (_incident(world).severity, _incident(world).priority) == ("major", "P2")

    card = _bare(world, channel, f"incident priority INC-{incident_id}")
    assert inputs(card)["severity"]["value"] == "major"
    _submit(world, card, {"severity": "major", "priority": "P3"}, channel=channel)
    assert _incident(world).priority == "P3"


def test_escalate_form_from_the_card_button_and_the_bare_command(world: TeamsWorld) -> None:
    incident_id, channel = _declare(world)
    card = _press(world, channel, "escalate", person="bob")
    assert [c["value"] for c in inputs(card)["group"]["choices"]] == ["exec", "comms"]
    assert inputs(card)["reason"]["isMultiline"] is True
    done = _submit(world, card, {"group": "exec", "reason": "Customers may need a credit"},
                   person="bob", channel=channel)
    assert "Escalated to exec: Erin Engel." in card_words(done)
    [event] = world.events(incident_id, "escalated_to_group")
    assert event.text == "exec: Customers may need a credit" and event.actor == "bob"

    card = _bare(world, channel, "incident escalate")
    _submit(world, card, {"group": "comms", "reason": "A status page note is due"},
            channel=channel)
    assert len(world.events(incident_id, "escalated_to_group")) == 2


def test_page_form_pages_the_people_picked_and_needs_someone(world: TeamsWorld) -> None:
    incident_id, channel = _declare(world)
    card = _bare(world, channel, "incident page")
    fields = inputs(card)
    assert fields["people"]["isMultiSelect"] is True
    assert len(fields["people"]["choices"]) == 3
    assert [c["value"] for c in fields["team"]["choices"]] == ["payments"]

    again = _submit(world, card, {"people": "", "team": ""}, channel=channel)
    assert "Choose people, a team, or both." in json.dumps(again)
    assert world.events(incident_id, "manual_page") == []

    done = _submit(world, again, {"people": f"{AAD['erin']},{AAD['bob']}", "team": ""},
                   channel=channel)
    assert "Paged" in card_words(done) and "Erin Engel" in card_words(done)
    paged = " ".join(e.text for e in world.events(incident_id, "manual_page"))
    assert "Erin" in paged and "Bob" in paged


def test_action_item_form_with_owner_due_date_and_ticket_toggle(world: TeamsWorld) -> None:
    incident_id, channel = _declare(world)
    card = _bare(world, channel, "incident action")
    fields = inputs(card)
    assert fields["due"]["type"] == "Input.Date" and fields["due"]["isRequired"] is True
    toggle = fields["ticket"]
    assert (toggle["type"], toggle["value"]) == ("Input.Toggle", "true")  # a ticket unless off
    assert fields["what"]["maxLength"] == 200
    done = _submit(world, card, {"what": "Add a canary stage", "owner": AAD["erin"],
                                 "due": "2026-12-01", "ticket": "false"}, channel=channel)
    assert ("AI-1 for Erin Engel, due 2026-12-01: Add a canary stage. "
            "No ticket, as asked: tracked in Firebell only.") in card_words(done)
    [event] = world.events(incident_id, "action_added")
    assert "Add a canary stage" in event.text and "Erin Engel" in event.text


def test_postmortem_review_form_records_the_note(world: TeamsWorld) -> None:
    incident_id, channel = _declare(world)
    _bare_text(world, channel, "incident resolve")
    _bare_text(world, channel, "incident postmortem")
    card = _bare(world, channel, "incident review")
    assert [c["value"] for c in inputs(card)["step"]["choices"]] == ["review", "publish"]
    done = _submit(world, card, {"step": "review", "note": "Timeline checked with payments"},
                   channel=channel)
    assert (f"The postmortem of INC-{incident_id} is in review (your note is on the timeline)."
            in card_words(done))
    [event] = world.events(incident_id, "postmortem_state")
    assert event.data["note"] == "Timeline checked with payments"


def _bare_text(world: TeamsWorld, channel: str, words: str) -> str:
    thread = _thread(channel)
    before = len(world.to(thread))
    activity = message(world.service_url, f"<at>Firebell</at> {words}", user=AAD["alice"],
                       conversation=thread, kind="channel",
                       entities=[{"type": "mention", "text": "<at>Firebell</at>",
                                  "mentioned": {"id": f"28:{APP_ID}", "name": "Firebell"}}],
                       channelData={"tenant": {"id": TENANT}, "channel": {"id": channel}})
    assert world.post(activity).status_code == 200
    return str(world.wait(lambda: world.to(thread)[before:])[0].body.get("text"))


def test_a_form_is_refused_to_someone_who_may_not_use_it(world: TeamsWorld) -> None:
    incident_id, channel = _declare(world)
    card = _press(world, channel, "status")
    # A stranger presses the card's Escalate: refused, no form.
    [button] = [a for a in _live_card(world, channel)["actions"] if a.get("verb") == "escalate"]
    refused = _stranger_invokes(world, "escalate", button["data"], channel)
    assert "not in Firebell's catalog" in card_words(refused) and "actions" not in refused
    # ... and a form they got hold of does not run either.
    action = submit_action(card)
    answer = _stranger_invokes(world, action["verb"], {
        **action["data"], "stage": "Resolved", "text": "nothing to see"}, channel)
    assert "not in Firebell's catalog" in card_words(answer) and "actions" not in answer
    assert world.events(incident_id, "status_update") == []
    assert world.events(incident_id, "escalated_to_group") == []


def _stranger_invokes(world: TeamsWorld, verb: str, data: dict[str, Any],
                      channel: str) -> dict[str, Any]:
    activity = message(world.service_url, "", user=STRANGER, conversation=_thread(channel),
                       kind="channel", type="invoke", name="adaptiveCard/action",
                       channelData={"tenant": {"id": TENANT}, "channel": {"id": channel}},
                       value={"action": {"type": "Action.Execute", "verb": verb, "data": data},
                              "trigger": "manual"})
    activity.pop("text")
    answer = world.post(activity).json()
    assert answer["statusCode"] == 200 and answer["type"] == CARD
    return valid_card(answer["value"])


# past 100 choices: a typeahead answered through application/search ---------------------------
def _crowded_catalog(tmp_path: Path) -> Path:
    catalog = yaml.safe_load(teams_catalog(tmp_path).read_text())
    catalog["people"] += [{"id": f"p{n:03d}", "name": f"Person {n:03d}", "teams": f"aad-p{n:03d}"}
                          for n in range(1, 151)]
    path = tmp_path / "crowded.yaml"
    path.write_text(yaml.safe_dump(catalog))
    return path


def test_a_person_field_past_100_people_is_a_typeahead_the_bot_answers(tmp_path: Path) -> None:
    teams = TeamsHarness(tmp_path, clock=FakeClock(START), catalog=_crowded_catalog(tmp_path))
    try:
        assert "Declared INC-1" in teams.say(DECLARE).body["text"]
        sent = teams.say("incident role INC-1")  # 1:1: the incident named
        card = valid_card(sent.body["attachments"][0]["content"])
        person = inputs(card)["person"]
        assert person["choices"] == [] and person["style"] == "filtered"
        query = person["choices.data"]
        assert query["type"] == "Data.Query"

        def search(text: str, **options: int) -> list[dict[str, str]]:
            activity = message(teams.microsoft.service_url, "", type="invoke",
                               name="application/search",
                               value={"queryText": text, "dataset": query["dataset"],
                                      "queryOptions": {"skip": 0, "top": 15, **options}})
            activity.pop("text")
            answer = teams.post(activity)
            assert answer.status_code == 200
            body = answer.json()
            assert body["type"] == "application/vnd.microsoft.search.searchResponse"
            results: list[dict[str, str]] = body["value"]["results"]
            return results

        assert [r["value"] for r in search("person 12")] == [f"aad-p{n}" for n in range(120, 130)]
        assert len(search("person")) == 15  # what Teams shows
        assert search("person", skip=145)[0]["value"] == "aad-p146"
        assert search("alice") == [{"title": "Alice Doe", "value": ALICE}]
        assert search("nobody like that") == []

        def submit(values: dict[str, str]) -> dict[str, Any]:
            action = submit_action(card)
            invoke = message(teams.microsoft.service_url, "", type="invoke",
                             name="adaptiveCard/action",
                             value={"action": {"type": "Action.Execute", "verb": action["verb"],
                                               "data": {**action["data"], **values}},
                                    "trigger": "manual"})
            invoke.pop("text")
            answer = teams.post(invoke).json()
            assert answer["type"] == CARD
            return valid_card(answer["value"])

        # Sent back to be corrected (no role), the card still shows the chosen person by name.
        again = submit({"role": "", "person": "aad-p123"})
        assert inputs(again)["person"]["choices"] == [{"title": "Person 123", "value": "aad-p123"}]
        assert inputs(again)["person"]["value"] == "aad-p123"
        assert "scribe" not in teams.incidents()[0].roles

        done = submit({"role": "scribe", "person": "aad-p123"})
        assert "Scribe: Person 123" in json.dumps(done)
        assert teams.incidents()[0].roles["scribe"] == "p123"
    finally:
        teams.close()


# the card and its reader, without HTTP ----------------------------------------------------------
def test_a_submitted_card_reads_back_through_the_forms_own_reader() -> None:
    form = Form(title="Action for INC-7", command="incident action", incident=7, fields=(
        Field("what", "What needs doing?", "text", max_length=200),
        Field("owner", "Owner", "person"),
        Field("due", "Due", "date"),
        Field("ticket", "Ticket", "toggle", (Choice("Open a ticket", "yes"),), initial=True,
              optional=True),
        Field("audience", "Who else", "group", (Choice("A", "a"), Choice("B", "b")),
              optional=True, initial=("b",)),
    ))
    card = valid_card(forms.form_card(form, metadata={"channel": "19:x"},
                                      people=[Choice("Erin", "aad-erin")]))
    fields = inputs(card)
    assert fields["audience"]["value"] == "b" and fields["ticket"]["value"] == "true"
    action = submit_action(card)
    assert action["verb"] == "form:incident action"
    data = {**action["data"], "what": " Add a canary ", "owner": "aad-erin", "due": "2026-12-01",
            "ticket": "false", "audience": "a,b"}
    command, metadata, answers = forms.read_submission(action["verb"], data)
    assert (command, metadata["incident"], metadata["channel"]) == ("incident action", 7, "19:x")
    assert answers["ticket"] is False and answers["audience"] == ("a", "b")
    people = {"aad-erin": "erin"}
    args = command_forms.ACTION.read(answers, lambda user: _person(people.get(user)))
    assert (args.text, args.person, dict(args.options)) == (
        "Add a canary", "@erin", {"due": "2026-12-01", "ticket": "no"})


def _person(person_id: str | None) -> Person | None:
    return None if person_id is None else Person(id=person_id, name=person_id.title())
