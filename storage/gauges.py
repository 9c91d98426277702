"""What `/metrics` reads from the database at scrape time: a few cheap aggregates, one short
reading transaction (on SQLite it takes no write lock), each served by an existing index."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine, case, func, or_
from sqlmodel import Session, col, select

from storage.db import aware, utc
from storage.effect_tables import EffectRow
from storage.tables import IncidentRow, PageRow
from workflows.model import OPEN_STATES, PageStatus


@dataclass(frozen=True)
class Gauges:
    open_incidents: dict[tuple[str, str], int] = field(default_factory=dict)  # (state, priority)
    effects_pending: dict[str, int] = field(default_factory=dict)  # by kind
    # Since when the longest-waiting effect has been owed and not performed (None: nothing waits).
    oldest_waiting_since: datetime | None = None
    pages_in_doubt: int = 0  # claimed for sending; whether the provider took them is unknown


def read_gauges(engine: Engine, *, now: datetime) -> Gauges:
    reader = engine.execution_options(firebell_reading=True)
    now = utc(now)
    with Session(reader) as session, session.begin():
        incidents = session.exec(
            select(IncidentRow.state, IncidentRow.priority, func.count())
            .where(col(IncidentRow.state).in_([s.value for s in OPEN_STATES]))
            .group_by(col(IncidentRow.state), col(IncidentRow.priority))
        ).all()
        pending = session.exec(
            select(EffectRow.kind, func.count()).where(EffectRow.status == "pending")
            .group_by(col(EffectRow.kind))
        ).all()
        # An effect scheduled for later (a delayed page) is not waiting until it falls due; one
        # already tried waits since it was owed, however its retries moved `not_before` on.
        since = case((col(EffectRow.attempts) == 0, col(EffectRow.not_before)),
                     else_=col(EffectRow.created_at))
        oldest = session.exec(
            select(func.min(since)).where(
                col(EffectRow.status) == "pending",
                or_(col(EffectRow.not_before) <= now, col(EffectRow.attempts) > 0))
        ).one()
        in_doubt = session.exec(
            select(func.count()).select_from(PageRow).where(PageRow.status == PageStatus.SENDING.value)
        ).one()
    return Gauges(
        open_incidents={(state, priority): count for state, priority, count in incidents},
        effects_pending={kind: count for kind, count in pending},
        oldest_waiting_since=aware(oldest) if oldest is not None else None,
        pages_in_doubt=int(in_doubt),
    )
