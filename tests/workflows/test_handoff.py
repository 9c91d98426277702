"""Handoff for long incidents: the reminder after `handoff_after`, and the summary on handoff."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime

import pytest

from storage.store import SqlStore
from tests.support.world import World
from workflows.followup import actions
from workflows.incident import commander as handoff
from workflows.incident import respond
from workflows.ports import InvalidRequest


@pytest.fixture
def world(store: SqlStore, start_time: datetime) -> Iterator[World]:
    yield World.for_followups(store, start_time)


def test_commander_is_reminded_after_eight_hours_then_hands_off(world: World) -> None:
    incident = world.declare()
    assert incident.id is not None
    respond.acknowledge(world.ctx, incident_id=incident.id, person="alice")
    respond.post_status(world.ctx, incident_id=incident.id, stage="Identified",
                        text="connection pool exhausted on db-3", author="alice")
    respond.add_note(world.ctx, incident_id=incident.id, text="raised pool size to 200",
                     actor="alice")
    respond.add_note(world.ctx, incident_id=incident.id, text="next: fail over to db-4",
                     actor="alice")
    actions.add_action(world.ctx, incident_id=incident.id, title="Alert on pool saturation",
                       owner="bob", due_on=date(2026, 12, 1), actor="alice")

    def nudges() -> list[str]:
        return [m.text for p, m in world.chat.directs if p == "alice" and ":hourglass:" in m.text]

    world.advance(hours=7, minutes=59)
    assert nudges() == []
    world.advance(minutes=1)
    assert len(nudges()) == 1 and "8h with the same commander" in nudges()[0]
    world.advance(hours=1)
    assert len(nudges()) == 1  # once per stretch

    done = handoff.handoff(world.ctx, incident_id=incident.id, to="@bob", actor="alice")
    assert done.incident.commander == "bob" and done.previous == "alice"
    summary = done.summary
    assert summary.index("*What we know*") < summary.index("connection pool exhausted on db-3")
    assert summary.index("*What we tried*") < summary.index("raised pool size to 200")
    assert summary.index("*What is next*") < summary.index("fail over to db-4")
    assert "AI-1 Alert on pool saturation" in summary
    assert ("bob", summary) in [(p, m.text) for p, m in world.chat.directs]
    assert any(summary == m.text for _, m in world.chat.posts)
    world.advance(hours=7)
    assert not [p for p, m in world.chat.directs if p == "bob" and ":hourglass:" in m.text]
    world.advance(hours=1)
    assert [p for p, m in world.chat.directs if p == "bob" and ":hourglass:" in m.text] == ["bob"]
    with pytest.raises(InvalidRequest, match="commander already"):
        handoff.handoff(world.ctx, incident_id=incident.id, to="bob", actor="bob")


def test_tickets_get_no_handoff_reminder(world: World) -> None:
    """The 8h nag is for incidents with a commander on a shift (P1/P2), not for queued tickets."""
    ticket = world.declare("Export is slow", severity="minor", urgency="high")
    incident = world.declare()
    assert ticket.id is not None and incident.id is not None
    assert (ticket.priority, incident.priority) == ("P3", "P1")
    respond.acknowledge(world.ctx, incident_id=ticket.id, person="alice")
    respond.acknowledge(world.ctx, incident_id=incident.id, person="alice")
    world.advance(hours=9)
    assert world.events(ticket.id, "handoff_reminder") == []
    assert len(world.events(incident.id, "handoff_reminder")) == 1
