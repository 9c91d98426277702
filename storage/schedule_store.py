"""The schedule store port over SQLite or PostgreSQL: versions, offers, handoff notices."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from storage.db import make_engine, utc
from storage.schedule_tables import HandoffNoticeRow, ScheduleVersionRow, ShiftOfferRow
from workflows.oncall.model import Offer, ScheduleVersion, StoredOverride
from workflows.ports import NotFound


def _override_json(o: StoredOverride) -> dict[str, Any]:
    return {**asdict(o), "start": o.start.isoformat(), "end": o.end.isoformat()}


def _override(data: dict[str, Any]) -> StoredOverride:
    return StoredOverride(
        person=data["person"], start=utc(datetime.fromisoformat(data["start"])),
        end=utc(datetime.fromisoformat(data["end"])), by=data.get("by"),
        reason=data.get("reason", ""),
    )  # fmt: skip


def _version(row: ScheduleVersionRow) -> ScheduleVersion:
    return ScheduleVersion(
        schedule=row.schedule, number=row.number, at=utc(row.at), author=row.author,
        reason=row.reason, catalog_digest=row.catalog_digest, base=dict(row.base),
        overrides=tuple(_override(o) for o in row.overrides), restores=row.restores, id=row.id,
    )  # fmt: skip


def _offer(row: ShiftOfferRow) -> Offer:
    return Offer(
        schedule=row.schedule, person=row.person, start=utc(row.start), end=utc(row.end),
        kind=row.kind, created_at=utc(row.created_at), taken_by=row.taken_by,
        taken_at=utc(row.taken_at) if row.taken_at else None, id=row.id, extra=dict(row.extra),
    )  # fmt: skip


class SqlScheduleStore:
    """Implements `workflows.ports.ScheduleStore`; shares the engine of the incident store."""

    def __init__(self, url: str, *, engine: Engine | None = None) -> None:
        self.engine = engine or make_engine(url)

    def _session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def latest_versions(self) -> dict[str, ScheduleVersion]:
        newest = (
            select(ScheduleVersionRow.schedule, func.max(ScheduleVersionRow.number).label("n"))
            .group_by(col(ScheduleVersionRow.schedule))
            .subquery()
        )
        query = select(ScheduleVersionRow).join(
            newest,
            (col(ScheduleVersionRow.schedule) == newest.c.schedule)
            & (col(ScheduleVersionRow.number) == newest.c.n),
        )
        with self._session() as session, session.begin():
            return {row.schedule: _version(row) for row in session.exec(query)}

    def versions(self, schedule: str, *, limit: int = 20) -> list[ScheduleVersion]:
        query = (
            select(ScheduleVersionRow)
            .where(ScheduleVersionRow.schedule == schedule)
            .order_by(col(ScheduleVersionRow.number).desc())
            .limit(limit)
        )
        with self._session() as session, session.begin():
            return [_version(row) for row in session.exec(query)]

    def add_version(self, version: ScheduleVersion, *, after: int | None) -> ScheduleVersion | None:
        row = ScheduleVersionRow(
            schedule=version.schedule, number=(after or 0) + 1, at=version.at.astimezone(UTC),
            author=version.author, reason=version.reason, catalog_digest=version.catalog_digest,
            base=version.base, overrides=[_override_json(o) for o in version.overrides],
            restores=version.restores,
        )  # fmt: skip
        try:
            with self._session() as session, session.begin():
                session.add(row)
                session.flush()
                return _version(row)
        except IntegrityError:  # (schedule, number) is unique: someone else wrote it first
            return None

    def add_offer(self, offer: Offer) -> Offer:
        row = ShiftOfferRow(
            schedule=offer.schedule, person=offer.person, kind=offer.kind,
            start=offer.start.astimezone(UTC), end=offer.end.astimezone(UTC),
            created_at=offer.created_at.astimezone(UTC), extra=offer.extra,
        )  # fmt: skip
        with self._session() as session, session.begin():
            session.add(row)
            session.flush()
            return _offer(row)

    def get_offer(self, offer_id: int) -> Offer:
        with self._session() as session, session.begin():
            row = session.get(ShiftOfferRow, offer_id)
            if row is None:
                raise NotFound(f"no shift offer #{offer_id}")
            return _offer(row)

    def take_offer(self, offer_id: int, *, person: str, at: datetime) -> Offer | None:
        with self._session() as session, session.begin():
            # One conditional UPDATE: of two people pressing "Take" together, one wins.
            taken = session.execute(
                update(ShiftOfferRow)
                .where(col(ShiftOfferRow.id) == offer_id, col(ShiftOfferRow.taken_by).is_(None))
                .values(taken_by=person, taken_at=at.astimezone(UTC))
            )
            if taken.rowcount != 1:  # type: ignore[attr-defined]
                return None
            row = session.get(ShiftOfferRow, offer_id)
            assert row is not None
            session.refresh(row)
            return _offer(row)

    def claim_handoff(self, *, schedule: str, at: datetime) -> bool:
        try:
            with self._session() as session, session.begin():
                session.add(HandoffNoticeRow(schedule=schedule, at=at.astimezone(UTC)))
        except IntegrityError:
            return False
        return True

    def dispose(self) -> None:
        self.engine.dispose()
