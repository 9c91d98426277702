"""Action items: tickets when configured, listing, overdue reminders and weekly summaries."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime

import pytest

from bot.commands import Commands, Invocation
from storage.store import SqlStore
from tests.support.world import World
from workflows.followup import actions
from workflows.model import Incident
from workflows.ports import ExternalServiceError, InvalidRequest, Message


@dataclass
class FakeTickets:
    opened: list[str] = field(default_factory=list)
    comments: list[tuple[str, str]] = field(default_factory=list)
    fail: bool = False

    def open_ticket(self, *, incident: Incident, body: str) -> str:
        if self.fail:
            raise ExternalServiceError("Jira is down", retryable=True)
        self.opened.append(body)
        return f"PAY-{len(self.opened)}"

    def update_ticket(self, *, ticket: str, incident: Incident, comment: str) -> None:
        self.comments.append((ticket, comment))


@pytest.fixture
def world(store: SqlStore, start_time: datetime) -> Iterator[World]:
    yield World.for_followups(store, start_time)  # Tuesday 2026-11-24 10:30 Berlin


def _say(world: World, text: str, *, user: str = "UALICE", channel: str | None = None) -> str:
    commands = Commands(world.ctx, forms=False)
    return commands.handle(Invocation("incident", text, user, channel)).text


def test_parse_due_dates() -> None:
    tuesday = date(2026, 11, 24)
    assert actions.parse_due("2026-12-01", today=tuesday) == date(2026, 12, 1)
    assert actions.parse_due("tomorrow", today=tuesday) == date(2026, 11, 25)
    assert actions.parse_due("3d", today=tuesday) == date(2026, 11, 27)
    assert actions.parse_due("2w", today=tuesday) == date(2026, 12, 8)
    assert actions.parse_due("fri", today=tuesday) == date(2026, 11, 27)
    assert actions.parse_due("tuesday", today=tuesday) == date(2026, 12, 1)
    with pytest.raises(InvalidRequest, match="cannot read the due date"):
        actions.parse_due("soonish", today=tuesday)


def test_action_without_ticket_system_is_tracked_in_firebell_and_listed(world: World) -> None:
    incident = world.declare()
    answer = _say(world, 'action "Add a DB CPU alert at 80%" @bob due 2026-11-26',
                  channel=incident.channel)
    assert answer.startswith("AI-1 for Bob Brandt, due 2026-11-26") and "Firebell only" in answer
    listed = _say(world, "actions", channel=incident.channel)
    assert "AI-1 Add a DB CPU alert at 80%" in listed and "tracked in Firebell only" in listed
    assert "AI-1" in _say(world, "actions mine", user="UBOB")
    assert "No open action items of yours" in _say(world, "actions mine")
    assert _say(world, "action done AI-1", user="UBOB") == "AI-1 done: Add a DB CPU alert at 80%."
    assert "No open action items" in _say(world, "actions payments")


def test_action_opens_a_ticket_or_says_why_not(world: World) -> None:
    incident = world.declare()
    tickets = FakeTickets()
    world.ctx.tickets = tickets
    assert incident.id is not None
    answer = _say(world, f'action INC-{incident.id} "Add canary stage" @dave due fri')
    assert answer.endswith("Ticket PAY-1.") and "Owner: Dave Dent" in tickets.opened[0]
    tickets.fail = True
    answer = _say(world, 'action "Rotate creds" @bob due 3d', channel=incident.channel)
    assert "could not be opened (Jira is down): tracked in Firebell only" in answer
    assert world.events(incident.id, "ticket_failed")
    _say(world, "action done 1", user="UDAVE")
    assert tickets.comments == [("PAY-1", "Marked done in Firebell by Dave Dent.")]


def test_overdue_items_remind_their_owner_each_business_day_until_done(world: World) -> None:
    incident = world.declare()
    assert incident.id is not None
    item = actions.add_action(world.ctx, incident_id=incident.id, title="Fix the pool size",
                              owner="bob", due_on=date(2026, 11, 26), actor="alice").item

    def to_bob() -> list[tuple[str, Message]]:
        return [(p, m) for p, m in world.chat.directs if p == "bob"]

    world.advance(days=2, hours=21)  # Friday 07:30 Berlin: overdue, before business hours
    assert to_bob() == []
    world.advance(hours=1, minutes=30)  # Friday 09:00 Berlin
    [(owner, reminder)] = to_bob()
    assert owner == "bob" and "AI-1" in reminder.text and "overdue by 1 day(s)" in reminder.text
    world.advance(hours=20)
    assert len(to_bob()) == 1
    world.advance(days=2, hours=4)  # Monday 09:00: one business day later
    assert len(to_bob()) == 2 and "overdue by 4 day(s)" in to_bob()[-1][1].text
    actions.complete_action(world.ctx, action_id=item.id or 0, actor="bob")
    world.advance(days=3)
    assert len(to_bob()) == 2
    assert [e.kind for e in world.events(incident.id) if e.kind.startswith("action")] == [
        "action_added", "action_overdue", "action_overdue", "action_done"]


def test_weekly_summary_per_team_once_a_week(world: World) -> None:
    incident = world.declare()
    assert incident.id is not None
    actions.add_action(world.ctx, incident_id=incident.id, title="Runbook for failover",
                       owner="alice", due_on=date(2026, 11, 25), actor="alice")
    world.advance(minutes=1)

    def summaries() -> list[str]:
        return [m.text for c, m in world.chat.posts if c == "CPAY" and "Open action items" in m.text]

    assert summaries() == []  # created after this week's Monday slot
    world.advance(days=5, hours=23)  # Monday 08:31 UTC = 09:31 Berlin
    [summary] = summaries()
    assert "AI-1 Runbook for failover" in summary and "overdue" in summary
    world.advance(hours=3)
    assert len(summaries()) == 1
    world.advance(days=7)
    assert len(summaries()) == 2
