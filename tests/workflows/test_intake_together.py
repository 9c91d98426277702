"""Webhooks that arrive together are stored in one transaction (group commit), on both
databases: every caller gets its own outcome, a storm still opens one incident, and a batch that
cannot be stored is not lost with its neighbours."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import event, text

from storage.store import SqlStore
from tests.support.world import World
from workflows.intake.intake import Outcome, intake
from workflows.intake.signals import Action, Signal


@pytest.fixture
def world(store: SqlStore, start_time: datetime) -> Iterator[World]:
    yield World.for_intake(store, start_time)


def _signal(key: str, **payload: Any) -> Signal:
    labels = {"alertname": "HighErrorRate", "service": "checkout", "severity": "critical"}
    return Signal(source="alertmanager", integration="default", action=Action.TRIGGER,
                  dedup_key=key, labels=labels, summary=f"HighErrorRate on {key}",
                  payload=payload)


def _while_held(world: World, calls: list[list[Signal]]) -> list[Any]:
    """Send each batch from its own thread while a transaction holds the database, so they
    queue; then let go. Each caller's outcomes, or the error it raised."""
    held = world.ctx.store.engine.connect()
    held.begin()  # SQLite: BEGIN IMMEDIATE, the write lock (storage/db.py)
    if not world.ctx.store.url.startswith("sqlite"):
        held.execute(text("LOCK TABLE signals IN EXCLUSIVE MODE"))
    else:
        held.execute(text("SELECT 1"))
    group = world.ctx.intake_batches

    def send(signals: list[Signal]) -> Any:
        try:
            return intake(world.ctx, signals)
        except Exception as error:  # noqa: BLE001 - the test looks at it
            return error

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        first = pool.submit(send, calls[0])
        rest = []
        for signals in calls[1:]:
            rest.append(pool.submit(send, signals))
        deadline = threading.Event()
        for _ in range(500):  # the first is the leader, waiting for the database
            if group.waiting >= len(calls) - 1:
                break
            deadline.wait(0.01)
        held.rollback()
        held.close()
        return [first.result(timeout=30)] + [f.result(timeout=30) for f in rest]


def test_a_storm_that_arrives_together_is_stored_together_and_opens_one_incident(
        world: World) -> None:
    signal_inserts: list[str] = []
    engine = world.ctx.store.engine

    alert_inserts: list[str] = []

    def seen(conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.split()[0].upper() == "INSERT" and "signals" in statement:
            signal_inserts.append(statement)
        if statement.split()[0].upper() == "INSERT" and "INTO alerts " in statement:
            alert_inserts.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        results = _while_held(world, [[_signal("fp")] for _ in range(12)])
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert all(isinstance(r, list) and len(r) == 1 for r in results), results
    outcomes: list[Outcome] = [r[0] for r in results]
    assert sum(o.created for o in outcomes) == 1
    [incident] = world.incidents()
    assert {o.incident_id for o in outcomes} == {incident.id}
    # Twelve callers, stored in fewer transactions than that (the first alone, the rest after).
    assert len(signal_inserts) < 12
    # The first opened the alert; of the eleven repeats stored together, one tried to open it
    # again and found it open, and the other ten knew.
    assert len(alert_inserts) == 2
    with world.ctx.store.engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM signals")).scalar() == 12


def test_a_batch_that_cannot_be_stored_fails_alone_and_its_neighbours_are_stored(
        world: World) -> None:
    calls = [[_signal("fp-a")], [_signal("fp-b")], [_signal("fp-bad", when=object())],
             [_signal("fp-c")]]
    results = _while_held(world, calls)
    assert isinstance(results[2], Exception)  # its payload cannot be written as JSON
    for result in results[:2] + results[3:]:
        assert isinstance(result, list) and result[0].created and result[0].incident_id
    with world.ctx.store.engine.connect() as c:
        keys = {k for (k,) in c.execute(text("SELECT dedup_key FROM signals"))}
    assert keys == {"fp-a", "fp-b", "fp-c"}


def test_a_resolve_stored_together_with_repeats_lets_the_next_trigger_open_a_new_alert(
        world: World) -> None:
    resolve = _signal("fp")
    resolve = Signal(**{**resolve.__dict__, "action": Action.RESOLVE})
    results = _while_held(world, [[_signal("fp")], [_signal("fp")], [resolve], [_signal("fp")]])
    first, repeat, resolved, again = (r[0] for r in results)
    assert first.created and not repeat.created and not resolved.created
    assert again.created  # the repeat's open alert was forgotten when it resolved
    with world.ctx.store.engine.connect() as c:
        statuses = [s for (s,) in c.execute(text("SELECT status FROM alerts ORDER BY id"))]
    assert statuses == ["resolved", "firing"]


def test_a_batch_waits_for_another_replicas_batch_on_the_same_service(world: World) -> None:
    """Two replicas' batches that touch the same services in opposite orders deadlocked on
    PostgreSQL (found by bench/scaleout.py): a batch now first holds every service it touches,
    in one order, so it waits for the other's commit instead."""
    if world.ctx.store.url.startswith("sqlite"):
        pytest.skip("SQLite has one writer at a time")
    other = world.ctx.store.engine.connect()
    other.begin()
    other.execute(text("SELECT pg_advisory_xact_lock(hashtextextended('service:checkout', 0))"))
    done = threading.Event()
    sender = threading.Thread(target=lambda: (intake(world.ctx, [_signal("fp")]), done.set()),
                              daemon=True)
    sender.start()
    try:
        assert not done.wait(timeout=1.5), "the batch did not wait for the service's holder"
    finally:
        other.rollback()
        other.close()
    assert done.wait(timeout=10)
    [incident] = world.incidents()
    assert incident.service == "checkout"
