"""A repeated alert (same fingerprint, still open) on both databases: it raises its incident only
when it is more urgent, and otherwise changes nothing and waits for no lock on the incident."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy import text

from storage.store import SqlStore
from tests.support.world import World


@pytest.fixture
def world(store: SqlStore, start_time: datetime) -> Iterator[World]:
    yield World.for_intake(store, start_time)


def _timeline_kinds(world: World, incident_id: int) -> list[str]:
    return [event.kind for event in world.events(incident_id)]


def test_a_repeat_at_a_higher_priority_raises_the_open_incident(world: World) -> None:
    incident_id = world.fire("fp", severity="warning", urgency="low").incident_id or 0
    assert world.incident(incident_id).priority == "P4"
    outcome = world.fire("fp", severity="critical")
    assert not outcome.created and outcome.incident_id == incident_id
    assert world.incident(incident_id).priority == "P1"
    assert len(world.incidents()) == 1


def test_a_repeat_at_the_same_priority_changes_nothing(world: World) -> None:
    incident_id = world.fire("fp").incident_id or 0
    before, kinds = world.incident(incident_id), _timeline_kinds(world, incident_id)
    for _ in range(3):
        assert world.fire("fp").incident_id == incident_id
    assert world.incident(incident_id) == before
    assert _timeline_kinds(world, incident_id) == kinds


def test_a_repeat_does_not_wait_for_a_lock_on_its_incident(world: World) -> None:
    """An alert storm's repeats go through side by side: none holds the incident's row lock,
    so one that someone else holds (a person acknowledging, a long transaction) stops none."""
    if world.ctx.store.url.startswith("sqlite"):
        pytest.skip("SQLite has one writer at a time; row locks are PostgreSQL's")
    incident_id = world.fire("fp").incident_id or 0
    done = threading.Event()
    with world.ctx.store.engine.connect() as holder:
        holder.execute(text("SELECT id FROM incidents WHERE id = :id FOR UPDATE"),
                       {"id": incident_id})
        repeat = threading.Thread(target=lambda: (world.fire("fp"), done.set()), daemon=True)
        repeat.start()
        finished = done.wait(timeout=5)
        holder.rollback()  # lets a blocked repeat go on, so the test ends either way
    repeat.join(timeout=10)
    assert finished, "the repeat waited for the incident's row lock"


def test_a_repeat_is_stored_in_three_statements_and_no_savepoint(world: World) -> None:
    """An alert storm is mostly repeats: each stores its signal, finds its alert open and reads
    that alert's group and incident in one go, and writes nothing else (no savepoint: there is
    nothing to undo)."""
    from sqlalchemy import event

    incident_id = world.fire("fp").incident_id or 0
    statements: list[str] = []

    def seen(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement.split()[0].upper())

    engine = world.ctx.store.engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        assert world.fire("fp").incident_id == incident_id
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    # BEGIN/COMMIT are the driver's on PostgreSQL and SQLite's BEGIN IMMEDIATE is ours.
    # PostgreSQL: the service's lock first (replicas' batches take them in one order).
    lock = [] if world.ctx.store.url.startswith("sqlite") else ["SELECT"]
    assert [s for s in statements if s not in ("BEGIN", "COMMIT")] == [
        *lock, "INSERT", "SELECT", "INSERT"], statements  # the alert, its read, the signal
