"""The command table: every chat command is one entry (words, usage, verb, parser, workflow,
reply), `help` is printed from it, and a command that does not fit its parser gets the usage
line before any workflow runs."""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

import bot.command_table as command_table
from bot.command_table import TABLE, find, incident_verb
from bot.commands import Commands, Invocation
from storage.store import SqlStore
from tests.support.world import World
from workflows import access
from workflows.ports import InvalidRequest


@pytest.fixture
def world(store: SqlStore, start_time: datetime) -> Iterator[World]:
    yield World.for_followups(store, start_time)


def _say(world: World, command: str, text: str, *, user: str = "alice",
         channel: str | None = None) -> str:
    return Commands(world.ctx, forms=False).handle(Invocation(command, text, user, channel)).text


def test_every_entry_has_words_a_summary_a_verb_and_a_handler() -> None:
    assert len({c.words for c in TABLE}) == len(TABLE), "two entries for the same words"
    for c in TABLE:
        assert c.words and c.words[0] in ("incident", "oncall"), c
        assert c.summary.strip() and c.usage.startswith("`/" + " ".join(c.words)), c.words
        assert callable(c.handler) and callable(c.parse), c.words
        for text in ("", "INC-3", "INC-3 status", "status", "identified bad deploy"):
            verb = c.verb_for(text)
            assert verb == access.ASK or verb in access.VERBS, (c.words, verb)
    words = {c.words for c in TABLE}
    assert {("incident", "ack"), ("incident", "report"), ("oncall", "swap"), ("oncall",)} <= words


def test_routes_are_greppable_and_one_hop_from_the_workflow() -> None:
    source = Path(inspect.getfile(command_table)).read_text()
    for c in TABLE:
        literal = "(" + ", ".join(f'"{w}"' for w in c.words) + ("," if len(c.words) == 1 else "") + ")"
        assert literal in source, f"{c.words} is not written out in the table"
        if c.workflow is not None:  # the reply function calls the workflow its entry names
            assert c.workflow.__name__ in inspect.getsource(c.handler), c.words


def test_the_longest_words_win_and_the_rest_is_what_follows_them() -> None:
    entry, rest = find("incident", "ACTION done AI-3")
    assert entry.words == ("incident", "action", "done") and rest == "AI-3"
    entry, rest = find("incident", 'action INC-2 "Add an alert" @bob due fri')
    assert entry.words == ("incident", "action") and rest == 'INC-2 "Add an alert" @bob due fri'
    entry, rest = find("oncall", "Payments")
    assert entry.words == ("oncall",) and rest == "Payments"
    assert find("incident", "")[0].words == ("incident", "help")


def test_help_lists_every_entry(world: World) -> None:
    text = _say(world, "incident", "help")
    assert text.startswith("*/incident*")
    for c in TABLE:
        assert f"{c.usage_line(world.ctx.catalog)} {c.summary}" in text, c.words
    assert "<critical|major|minor>" in text  # usage lines name the catalog's words


def test_an_unknown_subcommand_says_so_and_suggests_help(world: World) -> None:
    with pytest.raises(InvalidRequest) as caught:
        _say(world, "incident", "Dance wildly")
    assert str(caught.value) == "unknown command '/incident dance'. Try `/incident help`."


@pytest.mark.parametrize(("command", "text", "usage"), [
    ("incident", "severity", "usage: `/incident severity <critical|major|minor>`"),
    ("incident", "role INC-1 commander", "usage: `/incident role <commander|"),
    ("incident", "postmortem INC-1 dance", "usage: `/incident postmortem [draft|"),
    ("incident", "action done", "usage: `/incident action done <id>` (e.g. AI-3)"),
    ("incident", "report service=checkout", "usage: `/incident report [service=<id>]"),
    ("oncall", "cover", "usage: `/oncall cover [schedule] <duration>`, e.g. `/oncall cover 2h`"),
    ("oncall", "cover pay-primary", "usage: `/oncall cover [schedule] <duration>`"),
    ("oncall", "take", "usage: `/oncall take <offer number>`"),
    ("oncall", "take soon", "usage: `/oncall take <offer number>`"),
    ("oncall", "override pay-primary @bob 18:00", "usage: `/oncall override [schedule] @person"),
    ("oncall", "undo", "usage: `/oncall undo <schedule>`"),
    ("oncall", "report pay-primary payments", "usage: `/oncall report [team|schedule] [YYYY-MM]`"),
    ("oncall", "override pay-primary @bob 25:00 2h", "cannot read the time '25:00'"),
])
def test_parsers_give_usage_errors_before_any_workflow_runs(
    world: World, command: str, text: str, usage: str
) -> None:
    # No incident exists and none is named by a channel: a workflow would say "which incident?".
    with pytest.raises(InvalidRequest) as caught:
        _say(world, command, text)
    assert str(caught.value).startswith(usage), str(caught.value)
    with world.ctx.store.transaction() as tx:
        assert tx.list_incidents(open_only=False, limit=10) == []


def test_a_well_formed_command_reaches_its_workflow(world: World) -> None:
    incident = world.declare()
    assert incident.channel is not None
    assert _say(world, "incident", "ack", channel=incident.channel) == f"You acknowledged {incident.ref}."
    assert _say(world, "incident", f"severity {incident.ref} minor").startswith(f"{incident.ref} is now")
    swapped = _say(world, "oncall", "swap pay-primary")
    assert re.fullmatch(r"Asked Payments to take your shift \(offer \d+\)\.", swapped), swapped


def test_the_access_verb_follows_the_arguments() -> None:
    assert incident_verb("status", "") == access.ASK
    assert incident_verb("status", "INC-3 identified bad deploy") == "status"
    assert incident_verb("postmortem", "INC-3 status") == access.ASK
    assert incident_verb("action", "done AI-3") == "action"
    assert find("oncall", "history")[0].verb_for("") == access.ASK
    assert find("oncall", "swap")[0].verb_for("") == "schedule"
