"""The intake store port over SQLite or PostgreSQL, in SQLAlchemy Core: an alert storm is its
hot path (two INSERTs per duplicate webhook), so it skips the ORM's bookkeeping."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    case,
    func,
    not_,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from storage.db import aware as _aware
from storage.intake_tables import AlertGroupRow, AlertRow, SignalRow, WebhookDeliveryRow
from storage.tables import IncidentRow
from workflows.intake.signals import (
    Alert,
    AlertGroup,
    AlertStatus,
    NoiseRow,
    OpenAlert,
    StoredSignal,
)
from workflows.model import OPEN_STATES, State
from workflows.ports import NotFound

ALERTS = AlertRow.__table__  # type: ignore[attr-defined]
GROUPS = AlertGroupRow.__table__  # type: ignore[attr-defined]
SIGNALS = SignalRow.__table__  # type: ignore[attr-defined]
DELIVERIES = WebhookDeliveryRow.__table__  # type: ignore[attr-defined]
INCIDENTS = IncidentRow.__table__  # type: ignore[attr-defined]
_OPEN = frozenset(state.value for state in OPEN_STATES)
_JOINABLE = [state.value for state in (*OPEN_STATES, State.RESOLVED)]


# Built once: an alert storm runs these thousands of times a second.
_ADD_SIGNAL = SIGNALS.insert()
_INSERT_ALERT = {
    dialect_is_sqlite: (sqlite.insert if dialect_is_sqlite else postgresql.insert)(ALERTS)
    .on_conflict_do_nothing(index_elements=["open_key"])
    .returning(ALERTS.c.id)
    for dialect_is_sqlite in (True, False)
}


# A repeat's one read: the open alert, its group and its incident's state and priority.
_OPEN_ALERT = (
    select(ALERTS, GROUPS.c.service.label("g_service"), GROUPS.c.opened_at.label("g_opened_at"),
           GROUPS.c.last_alert_at.label("g_last_alert_at"),
           GROUPS.c.incident_id.label("g_incident_id"), INCIDENTS.c.state.label("i_state"),
           INCIDENTS.c.priority.label("i_priority"))
    .select_from(ALERTS.outerjoin(GROUPS, ALERTS.c.group_id == GROUPS.c.id)
                 .outerjoin(INCIDENTS, GROUPS.c.incident_id == INCIDENTS.c.id))
    .where(ALERTS.c.open_key == bindparam("open_key"))
)


_LOCK_KEYS = text(
    "SELECT count(pg_advisory_xact_lock(h)) FROM (SELECT DISTINCT hashtextextended(k, 0) AS h"
    " FROM unnest(CAST(:keys AS text[])) AS k ORDER BY h) AS ordered"
)


def _open_key(source: str, dedup_key: str) -> str:
    return f"{source}/{dedup_key}"


def _alert(row: Any) -> Alert:
    m = row._mapping
    return Alert(
        source=m["source"], dedup_key=m["dedup_key"], rule=m["rule"],
        first_seen=_aware(m["first_seen"]), service=m["service"], team=m["team"],
        priority=m["priority"], environment=m["environment"], summary=m["summary"],
        unrouted_reason=m["unrouted_reason"], labels=dict(m["labels"] or {}),
        links=[list(link) for link in m["links"] or []], status=AlertStatus(m["status"]),
        group_id=m["group_id"], starts_at=_aware(m["starts_at"]),
        acknowledged_at=_aware(m["acknowledged_at"]), resolved_at=_aware(m["resolved_at"]),
        resolved_by_source=bool(m["resolved_by_source"]), flapping=bool(m["flapping"]), id=m["id"],
    )


def _group(row: Any) -> AlertGroup:
    m = row._mapping
    return AlertGroup(
        service=m["service"], opened_at=_aware(m["opened_at"]),
        last_alert_at=_aware(m["last_alert_at"]), incident_id=m["incident_id"], id=m["id"],
    )


class SqlIntakeTransaction:
    def __init__(self, connection: Connection, *, sqlite: bool) -> None:
        self._c = connection
        self._sqlite = sqlite

    def _insert(self, table: Any) -> Any:
        return (sqlite.insert if self._sqlite else postgresql.insert)(table)

    # signals and alerts ---------------------------------------------------
    def lock(self, keys: list[str]) -> None:
        if self._sqlite or not keys:
            return  # SQLite: the transaction holds the database's one write lock already
        # Transaction-level advisory locks, taken in the order of their 64-bit keys.
        self._c.execute(_LOCK_KEYS, {"keys": sorted(set(keys))})

    def add_signals(self, signals: list[StoredSignal]) -> None:
        if not signals:
            return
        self._c.execute(_ADD_SIGNAL, [{
            "received_at": signal.received_at, "source": signal.source,
            "integration": signal.integration, "action": signal.action.value,
            "dedup_key": signal.dedup_key, "rule": signal.rule, "service": signal.service,
            "payload": signal.payload,
        } for signal in signals])

    def insert_alert(self, alert: Alert) -> bool:
        statement = _INSERT_ALERT[self._sqlite]
        values = {
            "source": alert.source, "dedup_key": alert.dedup_key,
            "open_key": _open_key(alert.source, alert.dedup_key), "rule": alert.rule,
            "service": alert.service, "team": alert.team, "priority": alert.priority,
            "environment": alert.environment, "summary": alert.summary,
            "unrouted_reason": alert.unrouted_reason, "labels": alert.labels, "links": alert.links,
            "status": alert.status.value, "group_id": alert.group_id, "first_seen": alert.first_seen,
            "starts_at": alert.starts_at, "resolved_by_source": False, "flapping": alert.flapping,
        }
        new_id = self._c.execute(statement, values).scalar()
        if new_id is None:
            return False
        alert.id = int(new_id)
        return True

    def open_alert(self, *, source: str, dedup_key: str) -> OpenAlert | None:
        row = self._c.execute(_OPEN_ALERT, {"open_key": _open_key(source, dedup_key)}).first()
        if row is None:
            return None
        m = row._mapping
        group = None if m["group_id"] is None else AlertGroup(
            service=m["g_service"], opened_at=_aware(m["g_opened_at"]),
            last_alert_at=_aware(m["g_last_alert_at"]), incident_id=m["g_incident_id"],
            id=m["group_id"])
        return OpenAlert(_alert(row), group, incident_open=m["i_state"] in _OPEN,
                         incident_priority=m["i_priority"])

    def _close_or_mark(self, source: str, dedup_key: str, values: dict[str, Any]) -> Alert | None:
        row = self._c.execute(
            update(ALERTS)
            .where(ALERTS.c.open_key == _open_key(source, dedup_key))
            .values(**values)
            .returning(*ALERTS.c)
        ).first()
        return _alert(row) if row else None

    def resolve_alert(self, *, source: str, dedup_key: str, at: datetime) -> Alert | None:
        return self._close_or_mark(source, dedup_key, {
            "open_key": None, "status": AlertStatus.RESOLVED.value, "resolved_at": at,
            "resolved_by_source": True,
        })

    def acknowledge_alert(self, *, source: str, dedup_key: str, at: datetime) -> Alert | None:
        return self._close_or_mark(source, dedup_key, {
            "status": AlertStatus.ACKNOWLEDGED.value,
            "acknowledged_at": func.coalesce(ALERTS.c.acknowledged_at, at),
        })

    def recent_resolved(self, *, source: str, dedup_key: str, since: datetime) -> int:
        return int(self._c.execute(
            select(func.count()).select_from(ALERTS).where(
                ALERTS.c.source == source, ALERTS.c.dedup_key == dedup_key,
                ALERTS.c.resolved_at >= since,
            )
        ).scalar_one())

    def mark_flapping(self, alert_id: int) -> None:
        self._c.execute(update(ALERTS).where(ALERTS.c.id == alert_id).values(flapping=True))

    # groups ------------------------------------------------------------------
    def join_group(
        self, *, service: str, at: datetime, window_seconds: int
    ) -> tuple[AlertGroup, bool]:
        for _ in range(5):
            new_id = self._c.execute(
                self._insert(GROUPS)
                .values(service=service, open_key=service, opened_at=at, last_alert_at=at)
                .on_conflict_do_nothing(index_elements=["open_key"])
                .returning(GROUPS.c.id)
            ).scalar()
            if new_id is not None:
                return AlertGroup(service, at, at, None, int(new_id)), True
            query = (
                select(GROUPS, INCIDENTS.c.state)
                .select_from(GROUPS.outerjoin(INCIDENTS, GROUPS.c.incident_id == INCIDENTS.c.id))
                .where(GROUPS.c.open_key == service)
            )
            if not self._sqlite:  # SQLite's BEGIN IMMEDIATE already lets one writer in
                query = query.with_for_update(of=GROUPS)
            row = self._c.execute(query).first()
            if row is None:
                continue  # closed a moment ago: take the next turn to open one
            group = _group(row)
            expired = group.last_alert_at < at - timedelta(seconds=window_seconds)
            # A resolved incident in its recovery watch still takes its alerts: one that fires
            # again reopens it (and pages, if nobody held it) instead of opening another.
            ended = group.incident_id is not None and row._mapping["state"] not in _JOINABLE
            if expired or ended:
                self._c.execute(update(GROUPS).where(GROUPS.c.id == group.id).values(open_key=None))
                continue
            group.last_alert_at = max(group.last_alert_at, at)
            self._c.execute(
                update(GROUPS).where(GROUPS.c.id == group.id)
                .values(last_alert_at=group.last_alert_at)
            )
            return group, False
        raise RuntimeError(f"could not open or join an alert group for {service}")

    def attach(self, *, alert_id: int, group_id: int) -> None:
        self._c.execute(update(ALERTS).where(ALERTS.c.id == alert_id).values(group_id=group_id))

    def group(self, group_id: int) -> AlertGroup:
        row = self._c.execute(select(GROUPS).where(GROUPS.c.id == group_id)).first()
        if row is None:
            raise NotFound(f"there is no alert group {group_id}")
        return _group(row)

    def set_group_incident(self, *, group_id: int, incident_id: int) -> list[Alert]:
        # The UPDATE takes the group's row lock first: an alert joining at this moment either
        # committed before (and is listed below) or waits and then sees the incident.
        self._c.execute(
            update(GROUPS).where(GROUPS.c.id == group_id).values(incident_id=incident_id)
        )
        return self.group_alerts(group_id)

    def group_alerts(self, group_id: int) -> list[Alert]:
        rows = self._c.execute(
            select(ALERTS).where(ALERTS.c.group_id == group_id).order_by(ALERTS.c.id)
        )
        return [_alert(row) for row in rows]

    def incident_alerts(self, incident_id: int) -> list[Alert]:
        rows = self._c.execute(
            select(ALERTS).join(GROUPS, ALERTS.c.group_id == GROUPS.c.id)
            .where(GROUPS.c.incident_id == incident_id).order_by(ALERTS.c.id)
        )
        return [_alert(row) for row in rows]

    def groups_without_incident(self, *, before: datetime) -> list[AlertGroup]:
        rows = self._c.execute(
            select(GROUPS).where(
                GROUPS.c.incident_id.is_(None), GROUPS.c.open_key.is_not(None),
                GROUPS.c.opened_at < before,
            ).order_by(GROUPS.c.id)
        )
        return [_group(row) for row in rows]

    def open_alert_count(self, group_id: int) -> int:
        return int(self._c.execute(
            select(func.count()).select_from(ALERTS)
            .where(ALERTS.c.group_id == group_id, ALERTS.c.open_key.is_not(None))
        ).scalar_one())

    def unrouted(self, *, limit: int = 50) -> list[Alert]:
        rows = self._c.execute(
            select(ALERTS)
            .where(ALERTS.c.service.is_(None), ALERTS.c.open_key.is_not(None))
            .order_by(ALERTS.c.id.desc()).limit(limit)
        )
        return [_alert(row) for row in rows]

    # tickets -----------------------------------------------------------------
    def incident_for_ticket(self, ticket: str) -> int | None:
        found = self._c.execute(
            select(INCIDENTS.c.id).where(INCIDENTS.c.ticket == ticket)
            .order_by(INCIDENTS.c.id.desc()).limit(1)
        ).scalar()
        return int(found) if found is not None else None

    def first_delivery(self, *, system: str, delivery_id: str, at: datetime) -> bool:
        new_id = self._c.execute(
            self._insert(DELIVERIES)
            .values(system=system, delivery_id=delivery_id, received_at=at)
            .on_conflict_do_nothing(index_elements=["system", "delivery_id"])
            .returning(DELIVERIES.c.id)
        ).scalar()
        return new_id is not None

    # noise report ----------------------------------------------------------------
    def noise(self, *, since: datetime, until: datetime) -> list[NoiseRow]:
        signals = self._c.execute(
            select(SIGNALS.c.rule, SIGNALS.c.service, func.count())
            .where(SIGNALS.c.received_at >= since, SIGNALS.c.received_at < until,
                   SIGNALS.c.action == "trigger")
            .group_by(SIGNALS.c.rule, SIGNALS.c.service)
        )
        counts: dict[tuple[str, str | None], list[int]] = {
            (rule, service): [int(n), 0, 0, 0, 0] for rule, service, n in signals
        }
        # Acted on: the alert, or its incident while the alert was still open, was acknowledged.
        acked = or_(
            ALERTS.c.acknowledged_at.is_not(None),
            and_(INCIDENTS.c.acknowledged_at.is_not(None),
                 or_(ALERTS.c.resolved_at.is_(None),
                     INCIDENTS.c.acknowledged_at <= ALERTS.c.resolved_at)),
        )
        by_itself = and_(ALERTS.c.resolved_by_source.is_(True), not_(acked))
        alerts = self._c.execute(
            select(
                ALERTS.c.rule, ALERTS.c.service, func.count(),
                func.sum(case((acked, 1), else_=0)), func.sum(case((by_itself, 1), else_=0)),
                func.sum(case((ALERTS.c.flapping.is_(True), 1), else_=0)),
            )
            .select_from(
                ALERTS.outerjoin(GROUPS, ALERTS.c.group_id == GROUPS.c.id)
                .outerjoin(INCIDENTS, GROUPS.c.incident_id == INCIDENTS.c.id)
            )
            .where(ALERTS.c.first_seen >= since, ALERTS.c.first_seen < until)
            .group_by(ALERTS.c.rule, ALERTS.c.service)
        )
        for rule, service, n, ack, auto, flapping in alerts:
            entry = counts.setdefault((rule, service), [0, 0, 0, 0, 0])
            entry[1:] = [int(n), int(ack or 0), int(auto or 0), int(flapping or 0)]
        rows = [NoiseRow(rule, service, *values) for (rule, service), values in counts.items()]
        return sorted(rows, key=lambda r: (-r.signals, r.rule, r.service or ""))
