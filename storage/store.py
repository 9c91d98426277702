"""The SQL implementation of the store port: repositories over one SQLModel session."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, bindparam, func, insert, or_, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from storage.db import aware, from_row, is_sqlite, make_engine, to_row, utc
from storage.effect_tables import EffectRow
from storage.insight_store import SqlInsights
from storage.intake_store import SqlIntakeTransaction
from storage.postmortem_store import SqlFollowUps
from storage.stakeholder_tables import IncidentPostRow, SubscriptionRow
from storage.tables import DeadlineRow, IncidentRow, PageRow, TimelineRow
from workflows.model import (
    OPEN_STATES,
    AckFacts,
    Deadline,
    DeadlineKind,
    EscalationStepSnapshot,
    Incident,
    Page,
    PageStatus,
    Stage,
    State,
    TimelineEvent,
)
from workflows.outbox import ClaimedEffect, Effect, EffectKind
from workflows.ports import NotFound


def _incident(row: IncidentRow) -> Incident:
    values = from_row(row, Incident)
    values["state"] = State(row.state)
    values["stage"] = Stage(row.stage)
    values["roles"] = dict(row.roles or {})
    values["policy"] = [EscalationStepSnapshot(**step) for step in row.policy or []]
    return Incident(**values)


def _page_columns(page: Page) -> dict[str, Any]:
    """A page's column values, without its id (written by add, save and finish alike)."""
    return {**{k: v for k, v in to_row(page).items() if k != "id"}, "status": page.status.value}


def _incident_columns(incident: Incident) -> dict[str, Any]:
    values = to_row(incident)
    values["state"] = incident.state.value
    values["stage"] = incident.stage.value
    return values


def _page(row: PageRow) -> Page:
    values = from_row(row, Page)
    values["status"] = PageStatus(row.status)
    return Page(**values)


def _event(row: TimelineRow) -> TimelineEvent:
    return TimelineEvent(**from_row(row, TimelineEvent))


def _deadline(row: DeadlineRow) -> Deadline:
    values = from_row(row, Deadline)
    values["kind"] = DeadlineKind(row.kind)
    return Deadline(**values)


def _claimed(row: EffectRow) -> ClaimedEffect:
    assert row.id is not None
    return ClaimedEffect(
        id=row.id, key=row.key, kind=EffectKind(row.kind), incident_id=row.incident_id,
        payload=dict(row.payload or {}), attempts=row.attempts, created_at=aware(row.created_at),
        not_before=aware(row.not_before),
        lease_until=aware(row.lease_until) if row.lease_until else aware(row.not_before),
    )


class SqlTransaction:
    def __init__(self, session: Session, *, sqlite: bool) -> None:
        self._session = session
        self._sqlite = sqlite

    # incidents -----------------------------------------------------------
    def add_incident(self, incident: Incident) -> Incident:
        row = IncidentRow(**_incident_columns(incident))
        self._session.add(row)
        self._session.flush()
        incident.id = row.id
        return incident

    def _incident_row(self, incident_id: int, *, for_update: bool = False) -> IncidentRow:
        row: IncidentRow | None
        if for_update and not self._sqlite:
            query = select(IncidentRow).where(IncidentRow.id == incident_id).with_for_update()
            row = self._session.exec(query).first()
        else:
            # From the session's identity map when this transaction has read it already.
            row = self._session.get(IncidentRow, incident_id)
        if row is None:
            raise NotFound(f"there is no incident {incident_id}")
        return row

    def get_incident(self, incident_id: int, *, for_update: bool = False) -> Incident:
        return _incident(self._incident_row(incident_id, for_update=for_update))

    def save_incident(self, incident: Incident) -> None:
        assert incident.id is not None
        row = self._incident_row(incident.id)
        for key, value in _incident_columns(incident).items():
            setattr(row, key, value)
        self._session.add(row)
        self._session.flush()

    def incident_by_channel(self, channel: str) -> Incident | None:
        row = self._session.exec(
            select(IncidentRow).where(IncidentRow.channel == channel)
        ).first()
        return _incident(row) if row else None

    def list_incidents(self, *, open_only: bool = True, limit: int = 50) -> list[Incident]:
        query = select(IncidentRow).order_by(col(IncidentRow.id).desc()).limit(limit)
        if open_only:
            query = query.where(col(IncidentRow.state).in_([s.value for s in OPEN_STATES]))
        return [_incident(row) for row in self._session.exec(query)]

    # timeline ------------------------------------------------------------
    def append_event(self, event: TimelineEvent) -> bool:
        row = TimelineRow(**to_row(event))
        if event.source_id is not None:
            # A savepoint, so that a duplicate (a retried Slack event) leaves the rest intact.
            try:
                with self._session.begin_nested():
                    self._session.add(row)
            except IntegrityError:
                return False
            event.id = row.id
        else:
            # Written with the rest of the transaction, in one batch: nobody needs its id now.
            self._session.add(row)
        return True

    def events(self, incident_id: int) -> list[TimelineEvent]:
        query = (
            select(TimelineRow)
            .where(TimelineRow.incident_id == incident_id)
            .order_by(col(TimelineRow.at), col(TimelineRow.id))
        )
        return [_event(row) for row in self._session.exec(query)]

    # pages ---------------------------------------------------------------
    def add_page(self, page: Page) -> Page:
        page.id = self._insert(PageRow, _page_columns(page))
        return page

    def _insert(self, table: Any, values: dict[str, Any]) -> int:
        """One INSERT … RETURNING id: a fraction of the ORM's flush of a new object, which the
        escalation step paid for every page and deadline it wrote."""
        statement = insert(table).values(**values).returning(table.id)
        return int(self._session.execute(statement).scalar_one())

    def pages(self, incident_id: int) -> list[Page]:
        query = select(PageRow).where(PageRow.incident_id == incident_id).order_by(col(PageRow.id))
        return [_page(row) for row in self._session.exec(query)]

    def get_page(self, page_id: int) -> Page:
        row = self._session.get(PageRow, page_id)
        if row is None:
            raise NotFound(f"there is no page {page_id}")
        return _page(row)

    def save_page(self, page: Page) -> None:
        # One UPDATE, no read first: a page is written whole by whoever holds it.
        result = self._session.execute(
            update(PageRow).where(col(PageRow.id) == page.id).values(**_page_columns(page)),
            execution_options={"synchronize_session": False},
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise NotFound(f"there is no page {page.id}")
        self._session.expire_all()

    def finish_page(self, page: Page) -> bool:
        result = self._session.execute(
            update(PageRow)
            .where(col(PageRow.id) == page.id, col(PageRow.status) == PageStatus.SENDING.value)
            .values(**_page_columns(page)),
            execution_options={"synchronize_session": False},
        )
        self._session.expire_all()
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def attempts(self, page: Page) -> int:
        query = select(func.count()).select_from(PageRow).where(
            PageRow.incident_id == page.incident_id, PageRow.person == page.person,
            PageRow.channel == page.channel, col(PageRow.id) <= (page.id or 0))
        return int(self._session.exec(query).one())

    def claim_page(self, page_id: int, *, claimed_at: datetime) -> Page | None:
        # One statement: only the caller whose UPDATE matched a queued page gets it back.
        row = self._session.execute(
            update(PageRow)
            .where(col(PageRow.id) == page_id, col(PageRow.status) == PageStatus.QUEUED.value)
            .values(status=PageStatus.SENDING.value, sent_at=utc(claimed_at))
            .returning(PageRow),
            execution_options={"synchronize_session": False},
        ).scalar_one_or_none()
        return _page(row) if row is not None else None

    def pages_between(self, *, start: datetime, end: datetime) -> list[Page]:
        query = (
            select(PageRow)
            .where(col(PageRow.created_at) >= utc(start), col(PageRow.created_at) < utc(end))
            .order_by(col(PageRow.created_at), col(PageRow.id))
        )
        return [_page(row) for row in self._session.exec(query)]

    def incidents_by_id(self, ids: list[int]) -> dict[int, Incident]:
        if not ids:
            return {}
        query = select(IncidentRow).where(col(IncidentRow.id).in_(sorted(set(ids))))
        return {row.id: _incident(row) for row in self._session.exec(query) if row.id is not None}

    def ack_facts(self, ids: list[int]) -> dict[int, AckFacts]:
        if not ids:
            return {}
        i = IncidentRow
        query = select(i.id, i.drill, i.acknowledged_by, i.acknowledged_at).where(
            col(i.id).in_(sorted(set(ids))))
        return {int(row[0]): AckFacts(bool(row[1]), row[2], aware(row[3]))
                for row in self._session.exec(query) if row[0] is not None}

    def page_by_ref(self, ref: str) -> Page | None:
        row = self._session.exec(select(PageRow).where(PageRow.ref == ref)).first()
        return _page(row) if row else None

    def in_doubt(self, *, person: str, channel: str) -> list[Page]:
        query = (
            select(PageRow)
            .where(col(PageRow.status) == PageStatus.SENDING.value, PageRow.person == person,
                   PageRow.channel == channel)
            .order_by(col(PageRow.sent_at), col(PageRow.id))
        )
        return [_page(row) for row in self._session.exec(query)]

    # follow-ups (storage/postmortem_store.py) ------------------------------
    def followups(self) -> SqlFollowUps:
        """Postmortems and action items, in this same transaction."""
        return SqlFollowUps(self._session, sqlite=self._sqlite)

    # deadlines -----------------------------------------------------------
    def schedule(self, deadline: Deadline) -> Deadline:
        columns = {k: v for k, v in to_row(deadline).items() if k != "id"}
        deadline.id = self._insert(DeadlineRow, {**columns, "kind": deadline.kind.value})
        return deadline

    def cancel_deadlines(self, *, incident_id: int, kinds: tuple[DeadlineKind, ...]) -> int:
        result = self._session.execute(
            update(DeadlineRow)
            .where(
                col(DeadlineRow.incident_id) == incident_id,
                col(DeadlineRow.done).is_(False),
                col(DeadlineRow.kind).in_([k.value for k in kinds]),
            )
            .values(done=True)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    def claim_due(self, *, now: datetime) -> Deadline | None:
        query = (
            select(DeadlineRow)
            .where(col(DeadlineRow.done).is_(False), col(DeadlineRow.due_at) <= utc(now))
            .order_by(col(DeadlineRow.due_at), col(DeadlineRow.id))
            .limit(1)
        )
        if not self._sqlite:
            # Several replicas may poll at once: each takes a different row.
            query = query.with_for_update(skip_locked=True)
        # On SQLite the transaction began with BEGIN IMMEDIATE: only one writer at a time.
        row = self._session.exec(query).first()
        if row is None:
            return None
        row.done = True
        self._session.add(row)
        self._session.flush()
        return _deadline(row)

    def pending_deadlines(self, incident_id: int) -> list[Deadline]:
        query = (
            select(DeadlineRow)
            .where(DeadlineRow.incident_id == incident_id, col(DeadlineRow.done).is_(False))
            .order_by(col(DeadlineRow.due_at))
        )
        return [_deadline(row) for row in self._session.exec(query)]

    def next_due_at(self) -> datetime | None:
        deadline = self._session.exec(
            select(func.min(DeadlineRow.due_at)).where(col(DeadlineRow.done).is_(False))
        ).first()
        effect = self._session.exec(
            select(func.min(EffectRow.not_before)).where(EffectRow.status == "pending")
        ).first()
        # A delayed page is an effect whose not_before is its send_at: counted there.
        due = [aware(value) for value in (deadline, effect) if value is not None]
        return min(due) if due else None

    # the effect outbox -----------------------------------------------------
    def add_effects(self, effects: list[tuple[str, Effect]], *, now: datetime) -> int:
        if not effects:
            return 0
        rows = [
            {"key": key, "incident_id": e.incident_id, "kind": e.kind.value,
             "payload": dict(e.payload), "ordered": e.ordered, "status": "pending",
             "attempts": 0, "created_at": utc(now), "not_before": utc(e.not_before or now)}
            for key, e in effects
        ]
        # One statement (compiled once, sent as a batch): an effect written before (the same
        # key) is skipped, and the rest of the step is left intact.
        insert = (sqlite_insert if self._sqlite else postgresql_insert)(EffectRow)
        self._session.execute(insert.on_conflict_do_nothing(index_elements=["key"]), rows)
        return len(rows)

    def claim_effects(
        self, *, now: datetime, owner: str, limit: int, lease_seconds: dict[str, float]
    ) -> list[ClaimedEffect]:
        now = utc(now)
        free = or_(col(EffectRow.lease_until).is_(None), col(EffectRow.lease_until) <= now)
        earlier = aliased(EffectRow)
        # An ordered effect waits for every earlier pending ordered effect of its incident (held
        # or not, due or not): filtered in SQL, so a long queue of waiting chat effects can never
        # keep a page (or another incident's effect) out of the batch.
        waiting = (
            select(earlier.id)
            .where(earlier.incident_id == EffectRow.incident_id, col(earlier.ordered).is_(True),
                   earlier.status == "pending", col(earlier.id) < col(EffectRow.id))
            .exists()
        )
        due = (EffectRow.status == "pending", col(EffectRow.not_before) <= now, free)
        page = col(EffectRow.kind) == EffectKind.PAGE.value
        # Pages first, across incidents: a page never waits for anyone's chat housekeeping.
        # Two queries, each an early-stopping walk of a partial index in id order (a single
        # query ordered by "page first" had to test every pending row before sorting).
        pages = select(EffectRow).where(*due, page).order_by(col(EffectRow.id)).limit(limit)
        rest = (
            select(EffectRow)
            .where(*due, ~page, or_(col(EffectRow.ordered).is_(False),
                                    col(EffectRow.incident_id).is_(None), ~waiting))
            .order_by(col(EffectRow.id))
        )
        rows = self._claimable(pages)
        if len(rows) < limit:
            rows += self._claimable(rest.limit(limit - len(rows)))
        claimed: list[ClaimedEffect] = []
        for row in rows:
            row.attempts += 1
            row.lease_owner = owner
            row.lease_until = now + timedelta(seconds=lease_seconds.get(row.kind, 60.0))
            self._session.add(row)
            claimed.append(_claimed(row))
        self._session.flush()
        # Pages first: whoever performs a batch in order never lets a page wait for a channel.
        return sorted(claimed, key=lambda e: (e.kind != EffectKind.PAGE, e.id))

    def _claimable(self, query: Any) -> list[EffectRow]:
        if not self._sqlite:
            # Replicas claim side by side, each taking rows the others do not hold.
            query = query.with_for_update(skip_locked=True)
        return list(self._session.exec(query))

    def _held(self, effect_id: int, owner: str) -> Any:
        return and_(col(EffectRow.id) == effect_id, col(EffectRow.lease_owner) == owner,
                    col(EffectRow.status) == "pending")

    def finish_effect(
        self, effect_id: int, *, owner: str, status: str, at: datetime, result: str | None = None,
        error: str | None = None,
    ) -> bool:
        done = self._session.execute(
            update(EffectRow).where(self._held(effect_id, owner)).values(
                status=status, done_at=utc(at), result=result, error=error, lease_until=None),
            execution_options={"synchronize_session": False},
        )
        return bool(done.rowcount)  # type: ignore[attr-defined]

    def finish_effects(self, done: list[tuple[int, str | None]], *, owner: str, at: datetime) -> int:
        if not done:
            return 0
        # One UPDATE compiled once and sent with every effect's values (executemany).
        statement = (
            update(EffectRow)
            .where(col(EffectRow.id) == bindparam("effect_id"), col(EffectRow.lease_owner) == owner,
                   col(EffectRow.status) == "pending")
            .values(status="done", done_at=utc(at), result=bindparam("effect_result"),
                    error=None, lease_until=None)
        )
        rows = [{"effect_id": effect_id, "effect_result": result} for effect_id, result in done]
        result = self._session.connection().execute(statement, rows)
        return int(result.rowcount)

    def retry_effect(self, effect_id: int, *, owner: str, at: datetime, error: str) -> bool:
        done = self._session.execute(
            update(EffectRow).where(self._held(effect_id, owner)).values(
                not_before=utc(at), lease_until=None, lease_owner=None, error=error),
            execution_options={"synchronize_session": False},
        )
        return bool(done.rowcount)  # type: ignore[attr-defined]

    def release_effects(self, *, owner: str, at: datetime, ids: list[int]) -> int:
        done = self._session.execute(
            update(EffectRow)
            .where(col(EffectRow.lease_owner) == owner, col(EffectRow.status) == "pending",
                   col(EffectRow.id).in_(ids))
            .values(lease_until=utc(at), lease_owner=None),
            execution_options={"synchronize_session": False},
        )
        return int(done.rowcount)  # type: ignore[attr-defined]

    def lease_owners(self, *, prefix: str, now: datetime) -> list[str]:
        rows = self._session.exec(
            select(EffectRow.lease_owner).distinct()
            .where(EffectRow.status == "pending", col(EffectRow.lease_owner).startswith(prefix),
                   col(EffectRow.lease_until) > utc(now)))
        return [str(owner) for owner in rows if owner]

    def shorten_leases(self, *, owner: str, until: datetime) -> int:
        done = self._session.execute(
            update(EffectRow)
            .where(col(EffectRow.lease_owner) == owner, col(EffectRow.status) == "pending",
                   col(EffectRow.lease_until) > utc(until))
            .values(lease_until=utc(until)),
            execution_options={"synchronize_session": False},
        )
        return int(done.rowcount)  # type: ignore[attr-defined]

    def pending_effects(self, *, incident_id: int | None = None) -> list[ClaimedEffect]:
        query = select(EffectRow).where(EffectRow.status == "pending").order_by(col(EffectRow.id))
        if incident_id is not None:
            query = query.where(EffectRow.incident_id == incident_id)
        return [_claimed(row) for row in self._session.exec(query)]

    def effect_outcome(self, key: str) -> tuple[str, str | None] | None:
        row = self._session.exec(select(EffectRow).where(EffectRow.key == key)).first()
        return (row.status, row.result) if row else None

    # posts kept current and subscriptions ---------------------------------------------
    def post_ref(self, incident_id: int, purpose: str) -> str | None:
        row = self._session.exec(select(IncidentPostRow).where(
            IncidentPostRow.incident_id == incident_id, IncidentPostRow.purpose == purpose)).first()
        return row.ref if row else None

    def keep_post(self, incident_id: int, purpose: str, ref: str, *, at: datetime) -> bool:
        return self._insert_new(IncidentPostRow.__table__, {  # type: ignore[attr-defined]
            "incident_id": incident_id, "purpose": purpose, "ref": ref, "at": utc(at)})

    def subscribe(self, *, kind: str, target: str, person: str, at: datetime) -> bool:
        return self._insert_new(SubscriptionRow.__table__, {  # type: ignore[attr-defined]
            "kind": kind, "target": target, "person": person, "at": utc(at)})

    def _insert_new(self, table: Any, values: dict[str, Any]) -> bool:
        insert = sqlite_insert if self._sqlite else postgresql_insert
        # A row back from RETURNING, not rowcount: PostgreSQL's implicit RETURNING makes
        # rowcount -1 whether or not the row was inserted.
        result = self._session.connection().execute(
            insert(table).values(**values).on_conflict_do_nothing().returning(table.c.id))
        return result.first() is not None

    def unsubscribe(self, *, kind: str, target: str, person: str) -> bool:
        rows = list(self._session.exec(select(SubscriptionRow).where(
            SubscriptionRow.kind == kind, SubscriptionRow.target == target,
            SubscriptionRow.person == person)))
        for row in rows:
            self._session.delete(row)
        return bool(rows)

    def subscribers(self, *, kind: str, target: str) -> list[str]:
        query = select(SubscriptionRow).where(
            SubscriptionRow.kind == kind, SubscriptionRow.target == target
        ).order_by(col(SubscriptionRow.id))
        return [row.person for row in self._session.exec(query)]

    def subscriptions_of(self, person: str) -> list[tuple[str, str]]:
        query = select(SubscriptionRow).where(SubscriptionRow.person == person).order_by(
            col(SubscriptionRow.id))
        return [(row.kind, row.target) for row in self._session.exec(query)]

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        with self._session.begin_nested():
            yield

    def intake(self) -> SqlIntakeTransaction:
        return SqlIntakeTransaction(self._session.connection(), sqlite=self._sqlite)

    def insights(self) -> SqlInsights:
        return SqlInsights(self._session)


class SqlStore:
    """The store port over SQLite or PostgreSQL."""

    def __init__(self, url: str, *, engine: Engine | None = None) -> None:
        self.url = url
        self.engine = engine or make_engine(url)
        self._sqlite = is_sqlite(url)
        # The same pool; on SQLite its transactions begin without taking the write lock.
        self._reader = self.engine.execution_options(firebell_reading=True)
        self._writers = threading.RLock()

    @contextmanager
    def transaction(self, *, reading: bool = False) -> Iterator[SqlTransaction]:
        bind = self._reader if reading else self.engine
        # SQLite has one writer at a time. Threads of this process queue for it here, handed
        # the lock the moment it is free, instead of in SQLite's busy handler, which sleeps up
        # to 100 ms between looks (that sleeping, not the writing, made pages late under load).
        queue = self._writers if self._sqlite and not reading else nullcontext()
        with queue, Session(bind, expire_on_commit=False) as session, session.begin():
            yield SqlTransaction(session, sqlite=self._sqlite)

    def ping(self) -> bool:
        with self.engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
        return True

    def dispose(self) -> None:
        self.engine.dispose()
