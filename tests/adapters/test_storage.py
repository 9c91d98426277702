"""The store on both databases: migrations match the tables, deadlines are claimed once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import storage.tables  # noqa: F401
from storage.store import SqlStore
from workflows.model import Deadline, DeadlineKind, Incident, Page, PageStatus, TimelineEvent

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def _incident(store: SqlStore) -> int:
    with store.transaction() as tx:
        incident = tx.add_incident(Incident(
            title="t", service="checkout", team="payments", severity="critical", urgency="high",
            environment="production", priority="P1", declared_at=T0,
        ))
    assert incident.id is not None
    return incident.id


def test_migrations_create_exactly_the_tables(store: SqlStore) -> None:
    with store.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert diff == []


def test_round_trip_keeps_aware_utc_times(store: SqlStore) -> None:
    incident_id = _incident(store)
    with store.transaction() as tx:
        incident = tx.get_incident(incident_id)
        assert incident.declared_at == T0 and incident.declared_at.tzinfo is not None
        incident.roles["commander"] = "alice"
        tx.save_incident(incident)
    with store.transaction() as tx:
        assert tx.get_incident(incident_id).roles == {"commander": "alice"}


def test_each_due_deadline_is_claimed_exactly_once_by_competing_workers(store: SqlStore) -> None:
    incident_id = _incident(store)
    with store.transaction() as tx:
        for i in range(60):
            tx.schedule(Deadline(incident_id, DeadlineKind.ESCALATE, T0 + timedelta(seconds=i)))
        tx.schedule(Deadline(incident_id, DeadlineKind.ESCALATE, T0 + timedelta(hours=1)))
    claimed: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with store.transaction() as tx:
                deadline = tx.claim_due(now=T0 + timedelta(minutes=5))
            if deadline is None:
                return
            with lock:
                assert deadline.id is not None
                claimed.append(deadline.id)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(claimed) == 60 and len(set(claimed)) == 60
    with store.transaction() as tx:
        assert tx.next_due_at() == T0 + timedelta(hours=1)


def test_a_rolled_back_claim_is_due_again(store: SqlStore) -> None:
    incident_id = _incident(store)
    with store.transaction() as tx:
        tx.schedule(Deadline(incident_id, DeadlineKind.ESCALATE, T0))
    try:
        with store.transaction() as tx:
            assert tx.claim_due(now=T0) is not None
            raise RuntimeError("crash while acting on it")
    except RuntimeError:
        pass
    with store.transaction() as tx:
        assert tx.claim_due(now=T0) is not None
    with store.transaction() as tx:
        assert tx.claim_due(now=T0) is None


def test_a_page_is_claimed_for_sending_once(store: SqlStore) -> None:
    incident_id = _incident(store)
    with store.transaction() as tx:
        page = tx.add_page(Page(incident_id, "alice", "sms", T0))
    assert page.id is not None
    with store.transaction() as tx:
        claimed = tx.claim_page(page.id, claimed_at=T0)
        assert claimed is not None and claimed.status == PageStatus.SENDING
        assert claimed.sent_at == T0
    with store.transaction() as tx:
        assert tx.claim_page(page.id, claimed_at=T0) is None
        assert tx.pages(incident_id)[0].status == PageStatus.SENDING


def test_duplicate_source_id_is_ignored_without_losing_the_transaction(store: SqlStore) -> None:
    incident_id = _incident(store)
    with store.transaction() as tx:
        assert tx.append_event(TimelineEvent(incident_id, T0, "message", source_id="C1:1"))
        assert not tx.append_event(TimelineEvent(incident_id, T0, "message", source_id="C1:1"))
        assert tx.append_event(TimelineEvent(incident_id, T0, "note", text="kept"))
    with store.transaction() as tx:
        assert [e.kind for e in tx.events(incident_id)] == ["message", "note"]


def test_a_deadline_in_another_zone_is_due_at_the_same_instant(store: SqlStore) -> None:
    from zoneinfo import ZoneInfo

    incident_id = _incident(store)
    berlin = datetime(2026, 11, 24, 12, 0, tzinfo=ZoneInfo("Europe/Berlin"))  # 11:00 UTC
    with store.transaction() as tx:
        tx.schedule(Deadline(incident_id, DeadlineKind.ESCALATE, berlin))
    with store.transaction() as tx:
        assert tx.claim_due(now=datetime(2026, 11, 24, 10, 59, tzinfo=UTC)) is None
        assert tx.next_due_at() == berlin
    with store.transaction() as tx:
        assert tx.claim_due(now=datetime(2026, 11, 24, 11, 0, tzinfo=UTC)) is not None


def test_migrations_go_down_to_nothing_and_up_again(database_url: str) -> None:
    from alembic import command
    from alembic.script import ScriptDirectory

    from storage.db import alembic_config, upgrade

    config = alembic_config(database_url)
    assert ScriptDirectory.from_config(config).get_heads() == ["0015"]  # one head: no loose branch
    command.downgrade(config, "base")
    upgrade(database_url)
    store = SqlStore(database_url)
    try:
        assert _incident(store) == 1
    finally:
        store.dispose()
