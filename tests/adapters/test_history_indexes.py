"""Flat with history: the reads the scheduler's poll makes under a writing transaction are
answered from an index, never by reading every past incident's row (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event, insert, inspect, text

from storage.postmortem_tables import PostmortemRow
from storage.store import SqlStore
from storage.tables import IncidentRow

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def _past_incidents(store: SqlStore, count: int) -> None:
    with store.engine.begin() as connection:
        connection.execute(insert(IncidentRow), [
            {"title": f"past {n}", "service": "checkout", "team": "payments",
             "severity": "critical", "urgency": "high", "environment": "production",
             "priority": "P1" if n % 2 else "P3", "flags": [], "state": "closed",
             "stage": "Resolved", "roles": {}, "policy": [], "drill": n % 7 == 0,
             "security": False, "description": "",
             "declared_at": NOW - timedelta(hours=n + 1), "resolved_at": NOW - timedelta(hours=n)}
            for n in range(count)])
        if store.engine.dialect.name == "postgresql":
            connection.execute(text("ANALYZE incidents"))


def _sweep_reads(store: SqlStore) -> tuple[list[tuple[str, Any]], list[int]]:
    """The statements (with their parameters) the postmortem sweep's read sends, and its answer."""
    sent: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", capture)
    try:
        with store.transaction() as tx:
            owed = tx.followups().resolved_needing_postmortem(
                since=NOW - timedelta(days=7), priorities=["P1", "P2"])
    finally:
        event.remove(store.engine, "before_cursor_execute", capture)
    return [s for s in sent if "SELECT" in s[0]], owed


def _plan(store: SqlStore, statement: str, parameters: Any) -> str:
    with store.engine.connect() as connection:
        if store.engine.dialect.name == "sqlite":
            return " / ".join(str(row[-1]) for row in connection.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {statement}", parameters))
        connection.execute(text("SET enable_seqscan = off"))
        return " / ".join(str(row[0]) for row in connection.exec_driver_sql(
            f"EXPLAIN (COSTS OFF) {statement}", parameters))


def test_the_migration_indexes_the_postmortem_sweeps_columns(store: SqlStore) -> None:
    indexes = {i["name"]: i["column_names"] for i in inspect(store.engine).get_indexes("incidents")}

    assert indexes["ix_incidents_owed_postmortem"] == ["state", "resolved_at", "priority", "drill"]
    assert "ix_incidents_state_resolved" not in indexes  # its prefix: replaced, not doubled


def test_the_postmortem_sweep_reads_only_the_weeks_incidents_and_their_postmortems(
    store: SqlStore,
) -> None:
    _past_incidents(store, 400)
    # Ids are n + 1. Every old incident has its postmortem; of the week's P1s (odd n), 3 have
    # a due date, 5 are published, and 9 are drafts nobody gave a due date yet (still owed).
    with store.engine.begin() as connection:
        connection.execute(insert(PostmortemRow), [
            {"incident_id": n + 1, "state": state, "required": True, "text": "", "flags": [],
             "reminders": 0, "created_at": NOW - timedelta(hours=n),
             "due_at": NOW if due else None}
            for n, state, due in (
                [(n, "published", True) for n in range(7 * 24 + 1, 400)]
                + [(n, "draft", True) for n in (1, 3, 5)]
                + [(n, "published", False) for n in (9, 11, 13, 15, 17)]
                + [(n, "draft", False) for n in (19, 23, 25, 27, 29, 31, 33, 37, 39)])])
    week = [n + 1 for n in range(7 * 24 + 1) if n % 2 and n % 7]

    reads, owed = _sweep_reads(store)

    assert owed == [i for i in week if i - 1 not in (1, 3, 5, 9, 11, 13, 15, 17)][:50]
    [(incidents, incident_params)] = [r for r in reads if "FROM incidents" in r[0]]
    [(postmortems, postmortem_params)] = [r for r in reads if "FROM postmortems" in r[0]]
    assert "JOIN" not in incidents.upper()
    # The postmortems read asks for the week's incidents only, not for every one ever resolved.
    asked = [v for v in (postmortem_params.values() if isinstance(postmortem_params, dict)
                         else postmortem_params) if isinstance(v, int)]
    assert sorted(asked) == week
    incidents_plan = _plan(store, incidents, incident_params)
    postmortems_plan = _plan(store, postmortems, postmortem_params)
    if store.engine.dialect.name == "sqlite":
        assert "COVERING INDEX ix_incidents_owed_postmortem" in incidents_plan, incidents_plan
        assert "SEARCH postmortems USING INDEX" in postmortems_plan, postmortems_plan
    else:
        # Priority and drill are decided in the index: only the rows owed are fetched.
        used = incidents_plan.split("ix_incidents_owed_postmortem", 1)[1]
        assert "Index Cond:" in used and "drill" in used.split("Index Cond:", 1)[1], incidents_plan
        assert "uq_postmortems_incident" in postmortems_plan, postmortems_plan
