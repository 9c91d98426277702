"""The reads behind the insights (workflows/insights.py): one row per incident with its first
alert's start, its cause tag and its alert fingerprints, in three set queries (never one query
per incident), and the filtered incident listing of the API."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import func
from sqlalchemy import select as columns
from sqlmodel import Session, col, select

from storage.db import aware, utc
from storage.intake_tables import AlertGroupRow, AlertRow
from storage.postmortem_tables import PostmortemRow
from storage.tables import IncidentRow
from workflows.insight_model import IncidentFacts, IncidentQuery
from workflows.model import OPEN_STATES


class SqlInsights:
    """`InsightRecords` in the session of one `SqlTransaction`."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def incident_facts(self, *, since: datetime, until: datetime) -> list[IncidentFacts]:
        i = IncidentRow
        period = (col(i.declared_at) >= utc(since), col(i.declared_at) <= utc(until),
                  col(i.drill).is_(False))
        rows = self._session.execute(
            columns(*(col(c) for c in (i.id, i.service, i.team, i.priority, i.declared_at,
                                       i.declared_by, i.acknowledged_at, i.mitigated_at,
                                       i.resolved_at, PostmortemRow.cause)))
            .outerjoin(PostmortemRow, col(PostmortemRow.incident_id) == col(i.id))
            .where(*period)
            .order_by(col(i.declared_at), col(i.id))
        ).all()
        # The alerts of the same incidents: one query, grouped here.
        alerts = self._session.execute(
            columns(col(AlertGroupRow.incident_id), col(AlertRow.source), col(AlertRow.dedup_key),
                    func.coalesce(col(AlertRow.starts_at), col(AlertRow.first_seen)))
            .join(AlertGroupRow, col(AlertRow.group_id) == col(AlertGroupRow.id))
            .join(i, col(i.id) == col(AlertGroupRow.incident_id))
            .where(*period)
        ).all()
        first: dict[int, datetime] = {}
        prints: dict[int, set[str]] = defaultdict(set)
        for incident_id, source, key, started in alerts:
            if incident_id is None:
                continue
            at = _when(started)
            if at is not None and (incident_id not in first or at < first[incident_id]):
                first[incident_id] = at
            prints[incident_id].add(f"{source}/{key}")
        return [
            IncidentFacts(
                id=int(row[0] or 0), service=row[1], team=row[2], priority=row[3],
                declared_at=aware(row[4]), declared_by=row[5], acknowledged_at=aware(row[6]),
                mitigated_at=aware(row[7]), resolved_at=aware(row[8]),
                first_signal_at=first.get(int(row[0] or 0)), cause=row[9],
                fingerprints=tuple(sorted(prints.get(int(row[0] or 0), ()))),
            )
            for row in rows
        ]

    def find_incidents(self, query: IncidentQuery) -> list[int]:
        i = IncidentRow
        q = select(i.id).order_by(col(i.id).desc()).limit(query.limit)
        if query.state == "open":
            q = q.where(col(i.state).in_([s.value for s in OPEN_STATES]))
        for column, value in ((i.team, query.team), (i.service, query.service),
                              (i.priority, query.priority)):
            if value:
                q = q.where(col(column) == value)
        if query.since is not None:
            q = q.where(col(i.declared_at) >= utc(query.since))
        if query.until is not None:
            q = q.where(col(i.declared_at) < utc(query.until))
        if query.before_id is not None:
            q = q.where(col(i.id) < query.before_id)
        return [int(found) for found in self._session.exec(q) if found is not None]


def _when(value: object) -> datetime | None:
    """COALESCE loses the column type on SQLite: text comes back, parse it."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return aware(value)  # type: ignore[no-any-return]
