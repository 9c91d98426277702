"""Coverage hours (issue 18): a `page: coverage` priority pages inside its hours; outside them
its paging is queued (a notice, a durable deadline) until the next window opens — unless the
priority rises to one that pages at once or a person escalates. Both databases, fake clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from storage.store import SqlStore
from tests.support.catalogs import paging_catalog
from tests.support.world import World
from workflows.catalog.load import parse_catalog
from workflows.incident import involve, lifecycle, respond
from workflows.model import DeadlineKind
from workflows.paging import escalation
from workflows.paging.simulate import escalation_plan

# P2 pages only in the catalog's business hours (Mon-Fri 09:00-17:00 Berlin, DE holidays).
COVERAGE = paging_catalog(**{"P2: {page: true,": "P2: {page: coverage,"})
SATURDAY_3AM = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)  # Sat 03:00 Berlin (CET)
MONDAY_9AM = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # Mon 09:00 Berlin
TUESDAY_10AM = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


@pytest.fixture
def make_world(store: SqlStore) -> Iterator[object]:
    def make(start: datetime, text: str = COVERAGE) -> World:
        return World.for_paging(store, start, catalog=text, channels=("chat", "sms", "voice"))

    yield make


def _p2(world: World) -> int:
    return world.declare_id(severity="critical", urgency="low")


def _paged(world: World) -> set[str]:
    return {person for person, _, _ in world.pager.sent}


def test_a_p2_at_saturday_3am_queues_with_a_notice_and_pages_at_monday_9am(make_world) -> None:  # type: ignore[no-untyped-def]
    world = make_world(SATURDAY_3AM)
    incident_id = _p2(world)
    assert world.pager.sent == []
    assert world.incident(incident_id).channel is not None  # an incident all the same
    assert "paging_queued" in world.kinds(incident_id)
    assert any("P2 outside coverage hours: paging at Mon 09:00" in t for t in world.chat.texts())
    world.clock.set(MONDAY_9AM - timedelta(seconds=1))
    world.advance(seconds=0)
    assert world.pager.sent == []
    world.advance(seconds=1)  # Mon 09:00 Berlin: whoever is on call then (the handoff was at 09:00)
    assert _paged(world) == set(world.on_call("pay-primary")) == {"carol"}
    world.advance(minutes=15)  # and the escalation runs from there
    assert "bob" in _paged(world)


def test_inside_coverage_hours_a_p2_pages_at_once(make_world) -> None:  # type: ignore[no-untyped-def]
    world = make_world(TUESDAY_10AM)
    incident_id = _p2(world)
    assert _paged(world) == {"alice"}
    assert "paging_queued" not in world.kinds(incident_id)


def test_a_priority_raise_to_p1_pages_at_once(make_world) -> None:  # type: ignore[no-untyped-def]
    world = make_world(SATURDAY_3AM)
    incident_id = _p2(world)
    world.advance(minutes=30)
    assert world.pager.sent == []
    lifecycle.retriage(world.ctx, incident_id=incident_id, actor="frank", priority="P1")
    assert _paged(world) == {"alice"}
    assert "voice" in {c for _, c, _ in world.pager.sent}  # P1's channels
    assert _queued(world, incident_id) == []  # the queue's deadline is gone


def _queued(world: World, incident_id: int) -> list[datetime]:
    with world.ctx.store.transaction() as tx:
        return [d.due_at for d in tx.pending_deadlines(incident_id)
                if d.kind == DeadlineKind.COVERAGE_START]


@pytest.mark.parametrize("how", ["pass", "group"])
def test_a_person_escalating_pages_at_once(make_world, how: str) -> None:  # type: ignore[no-untyped-def]
    world = make_world(SATURDAY_3AM)
    incident_id = _p2(world)
    if how == "pass":
        people = escalation.escalate_now(world.ctx, incident_id=incident_id, actor="frank")
        assert people == ["alice"]  # the first step, not the second
    else:
        involve.escalate_to_group(world.ctx, incident_id=incident_id, group="legal",
                                  reason="customers are affected now", actor="frank")
        assert "frank" in _paged(world)
    assert "alice" in _paged(world)
    assert "escalated" in world.kinds(incident_id)
    assert _queued(world, incident_id) == []
    world.clock.set(MONDAY_9AM)
    world.advance(seconds=0)
    assert "carol" not in _paged(world)  # not started a second time at the window's start


def test_the_queue_survives_a_restart(store: SqlStore) -> None:
    before = World.for_paging(store, SATURDAY_3AM, catalog=COVERAGE)
    incident_id = _p2(before)
    assert before.pager.sent == []
    assert _queued(before, incident_id) == [MONDAY_9AM]
    # A new process (new context, pagers and clock) on the same database, on Monday morning.
    after = World.for_paging(store, MONDAY_9AM, catalog=COVERAGE)
    after.advance(seconds=0)
    assert before.pager.sent == []
    assert {p for p, _, _ in after.pager.sent} == {"carol"}
    assert all(i == incident_id for _, _, i in after.pager.sent)


def test_an_acknowledgement_while_queued_means_nobody_is_paged(make_world) -> None:  # type: ignore[no-untyped-def]
    world = make_world(SATURDAY_3AM)
    incident_id = _p2(world)
    respond.acknowledge(world.ctx, incident_id=incident_id, person="alice")
    world.clock.set(MONDAY_9AM)
    world.advance(seconds=0)
    assert world.pager.sent == []


def test_own_coverage_hours_and_simulate_shows_the_queue() -> None:
    catalog = parse_catalog(paging_catalog(**{
        "P2: {page: true,": 'P2: {page: coverage, coverage_hours: {days: Mon-Sun, hours: "08:00-22:00", timezone: UTC},',
    }))
    assert escalation.coverage_opens(catalog, priority="P2", at=SATURDAY_3AM) == \
        datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
    assert escalation.coverage_opens(catalog, priority="P2", at=TUESDAY_10AM) is None
    assert escalation.coverage_opens(catalog, priority="P1", at=SATURDAY_3AM) is None
    plan = escalation_plan(catalog, service_id="checkout", at=SATURDAY_3AM, priority="P2")
    assert any("queued until Sat 2026-11-28 08:00 UTC" in note for note in plan.notes)
    assert plan.pages[0].at == datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
