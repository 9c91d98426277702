"""Flat with history: the reads the scheduler's poll makes under a writing transaction are
answered from an index, never by reading every past incident's row (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event, insert, inspect, text

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


def _sweep_statement(store: SqlStore) -> tuple[str, Any, list[int]]:
    """The statement (and its parameters) the postmortem sweep's read sends, and its answer."""
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
    [(statement, parameters)] = [s for s in sent if "postmortems" in s[0]]
    return statement, parameters, owed


def test_the_migration_indexes_the_postmortem_sweeps_columns(store: SqlStore) -> None:
    indexes = {i["name"]: i["column_names"] for i in inspect(store.engine).get_indexes("incidents")}

    assert indexes["ix_incidents_owed_postmortem"] == ["state", "resolved_at", "priority", "drill"]
    assert "ix_incidents_state_resolved" not in indexes  # its prefix: replaced, not doubled


def test_the_postmortem_sweep_reads_the_weeks_incidents_from_the_index_alone(
    store: SqlStore,
) -> None:
    _past_incidents(store, 400)

    statement, parameters, owed = _sweep_statement(store)

    # The week's P1 incidents that are no drill, lowest ids first: the index changes no answer.
    assert owed == sorted(n + 1 for n in range(7 * 24 + 1) if n % 2 and n % 7)[:50]
    with store.engine.connect() as connection:
        if store.engine.dialect.name == "sqlite":
            plan = " / ".join(str(row[-1]) for row in connection.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {statement}", parameters))
            assert "COVERING INDEX ix_incidents_owed_postmortem" in plan, plan
        else:
            connection.execute(text("SET enable_seqscan = off"))
            plan = " / ".join(str(row[0]) for row in connection.exec_driver_sql(
                f"EXPLAIN (COSTS OFF) {statement}", parameters))
            # Priority and drill are decided in the index: only the rows owed are fetched.
            used = plan.split("ix_incidents_owed_postmortem", 1)[1]
            assert "Index Cond:" in used and "drill" in used.split("Index Cond:", 1)[1], plan
