"""Tables of alert intake: received signals, alerts, alert groups, webhook deliveries.

Dedup is a unique constraint, not a check-then-insert: `open_key` holds "<source>/<dedup key>"
while an alert is open and NULL once it resolved (NULLs never collide), so of two concurrent
webhooks for one fingerprint exactly one inserts. Alert groups use the same trick per service.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, UniqueConstraint
from sqlmodel import Field, SQLModel


def _utc(nullable: bool = True) -> Any:
    return Column(DateTime(timezone=True), nullable=nullable)


class AlertGroupRow(SQLModel, table=True):
    __tablename__ = "alert_groups"
    __table_args__ = (
        UniqueConstraint("open_key", name="uq_alert_groups_open_key"),
        Index("ix_alert_groups_incident", "incident_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    service: str
    open_key: str | None = None  # the service while the group takes alerts; NULL after
    incident_id: int | None = Field(default=None, foreign_key="incidents.id")
    opened_at: datetime = Field(sa_column=_utc(nullable=False))
    last_alert_at: datetime = Field(sa_column=_utc(nullable=False))


class AlertRow(SQLModel, table=True):
    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("open_key", name="uq_alerts_open_key"),
        Index("ix_alerts_key", "source", "dedup_key"),
        Index("ix_alerts_group", "group_id"),
        Index("ix_alerts_first_seen", "first_seen"),
    )

    id: int | None = Field(default=None, primary_key=True)
    source: str
    dedup_key: str
    open_key: str | None = None  # "<source>/<dedup_key>" while open, NULL once resolved
    rule: str
    service: str | None = None  # NULL: unrouted
    team: str | None = None
    priority: str | None = None
    environment: str = "production"
    summary: str = ""
    unrouted_reason: str = ""
    labels: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    links: list[list[str]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    status: str
    group_id: int | None = Field(default=None, foreign_key="alert_groups.id")
    first_seen: datetime = Field(sa_column=_utc(nullable=False))
    starts_at: datetime | None = Field(default=None, sa_column=_utc())
    acknowledged_at: datetime | None = Field(default=None, sa_column=_utc())
    resolved_at: datetime | None = Field(default=None, sa_column=_utc())
    resolved_by_source: bool = False
    flapping: bool = False


class SignalRow(SQLModel, table=True):
    __tablename__ = "signals"
    __table_args__ = (Index("ix_signals_received", "received_at"),)

    id: int | None = Field(default=None, primary_key=True)
    received_at: datetime = Field(sa_column=_utc(nullable=False))
    source: str
    integration: str
    action: str
    dedup_key: str
    rule: str
    service: str | None = None
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class WebhookDeliveryRow(SQLModel, table=True):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("system", "delivery_id", name="uq_webhook_delivery"),
        Index("ix_webhook_deliveries_received", "received_at"),  # retention
    )

    id: int | None = Field(default=None, primary_key=True)
    system: str
    delivery_id: str
    received_at: datetime = Field(sa_column=_utc(nullable=False))
