"""Signals and alerts: what intake receives, what it keeps, and the store port it keeps them in.

A **signal** is one event as a source sent it (an Alertmanager alert, a PagerDuty event, a
person's report). An **alert** is what the signals of one dedup key amount to while it is open;
alerts of one service within the grouping window form an **alert group**, which is one incident.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol


class Action(StrEnum):
    TRIGGER = "trigger"
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"


@dataclass(frozen=True)
class Signal:
    """One event from a source, already translated from its wire format."""

    source: str  # "alertmanager", "grafana", "pagerduty", "report"
    integration: str  # which token sent it (or who reported it)
    action: Action
    dedup_key: str
    labels: dict[str, str] = field(default_factory=dict)
    summary: str = ""
    description: str = ""
    starts_at: datetime | None = None
    links: tuple[tuple[str, str], ...] = ()  # (label, url): alert, dashboard, silence ...
    reporter: str | None = None  # a person, for reports
    payload: dict[str, Any] = field(default_factory=dict)  # the source's own words, kept as sent

    @property
    def rule(self) -> str:
        """The alert rule, for the noise report: `alertname` where monitoring sets it."""
        return self.labels.get("alertname") or self.labels.get("rule") or self.summary[:80] or "-"


class AlertStatus(StrEnum):
    FIRING = "firing"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


@dataclass
class Alert:
    source: str
    dedup_key: str
    rule: str
    first_seen: datetime
    service: str | None = None  # None: unrouted
    team: str | None = None
    priority: str | None = None
    environment: str = "production"
    summary: str = ""
    unrouted_reason: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    links: list[list[str]] = field(default_factory=list)
    status: AlertStatus = AlertStatus.FIRING
    group_id: int | None = None
    starts_at: datetime | None = None
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    resolved_by_source: bool = False
    flapping: bool = False
    id: int | None = None


@dataclass
class AlertGroup:
    """Alerts of one service that arrived within the grouping window: one incident."""

    service: str
    opened_at: datetime
    last_alert_at: datetime
    incident_id: int | None = None
    id: int | None = None


@dataclass(frozen=True)
class StoredSignal:
    """A signal as it was received, for the record and the noise report."""

    received_at: datetime
    source: str
    integration: str
    action: Action
    dedup_key: str
    rule: str
    service: str | None
    payload: dict[str, Any]


@dataclass(frozen=True)
class NoiseRow:
    """One line of the noise report: an alert rule of a service over a period."""

    rule: str
    service: str | None
    signals: int
    alerts: int
    acknowledged: int
    auto_resolved: int
    flapping: int


@dataclass(frozen=True)
class OpenAlert:
    """An open alert with its group and its incident as a repeat needs them, read at once: a
    storm's repeats change nothing unless one raises the incident's priority."""

    alert: Alert
    group: AlertGroup | None
    incident_open: bool  # False too when the group has no incident yet
    incident_priority: str | None


class IntakeTransaction(Protocol):
    """One atomic unit of work on alerts, groups and received signals."""

    def lock(self, keys: list[str]) -> None:
        """Hold these keys (a service, an unrouted alert) until the commit, waiting for any other
        transaction that holds one: taken together in one order, so that two batches that touch
        the same services one after the other never wait for each other (a deadlock)."""
        ...

    def add_signals(self, signals: list[StoredSignal]) -> None:
        """Store received signals as sent (one statement for a whole batch)."""
        ...

    def insert_alert(self, alert: Alert) -> bool:
        """Insert unless an open alert has the same source and dedup key (a unique constraint
        decides, so concurrent duplicates cannot both win). True and `alert.id` set when new."""
        ...

    def open_alert(self, *, source: str, dedup_key: str) -> OpenAlert | None:
        """The open alert of this source and dedup key, its group and its incident's state and
        priority (read without locking the incident), in one read; None when none is open."""
        ...

    def resolve_alert(self, *, source: str, dedup_key: str, at: datetime) -> Alert | None:
        """Mark the open alert resolved (its dedup key is free again); None when none was open."""
        ...

    def acknowledge_alert(self, *, source: str, dedup_key: str, at: datetime) -> Alert | None: ...

    def recent_resolved(self, *, source: str, dedup_key: str, since: datetime) -> int:
        """How often this dedup key resolved since `since` (for flapping)."""
        ...

    def mark_flapping(self, alert_id: int) -> None: ...

    def join_group(self, *, service: str, at: datetime, window_seconds: int) -> tuple[AlertGroup, bool]:
        """The open group of `service` whose last alert is within the window and whose incident
        is still open, or a new one (True). Decided by a unique constraint, not check-then-insert."""
        ...

    def attach(self, *, alert_id: int, group_id: int) -> None: ...
    def group(self, group_id: int) -> AlertGroup: ...

    def set_group_incident(self, *, group_id: int, incident_id: int) -> list[Alert]:
        """Link the group to its incident; returns the group's alerts so far."""
        ...

    def groups_without_incident(self, *, before: datetime) -> list[AlertGroup]: ...
    def group_alerts(self, group_id: int) -> list[Alert]: ...
    def incident_alerts(self, incident_id: int) -> list[Alert]:
        """The alerts of every group linked to the incident, oldest first."""
        ...

    def open_alert_count(self, group_id: int) -> int: ...
    def unrouted(self, *, limit: int = 50) -> list[Alert]: ...
    def incident_for_ticket(self, ticket: str) -> int | None: ...

    def first_delivery(self, *, system: str, delivery_id: str, at: datetime) -> bool:
        """True the first time a webhook delivery id is seen; False for a redelivery."""
        ...

    def noise(self, *, since: datetime, until: datetime) -> list[NoiseRow]: ...
