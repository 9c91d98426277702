"""SQLModel tables. Every datetime is stored as timezone-aware UTC."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, UniqueConstraint
from sqlmodel import Field, SQLModel


def _utc() -> Any:
    return Column(DateTime(timezone=True))


class IncidentRow(SQLModel, table=True):
    __tablename__ = "incidents"
    __table_args__ = (
        Index("ix_incidents_state", "state"),
        Index("ix_incidents_channel", "channel"),
        # The postmortem sweep's read, answered from the index alone (migration 0014).
        Index("ix_incidents_owed_postmortem", "state", "resolved_at", "priority", "drill"),
    )

    id: int | None = Field(default=None, primary_key=True)
    title: str
    service: str
    team: str
    severity: str
    urgency: str
    environment: str
    priority: str
    description: str = ""
    security: bool = False
    drill: bool = False
    flags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    state: str
    stage: str
    channel: str | None = None
    roles: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    policy: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    policy_repeat: int = 0
    escalation_step: int = 0
    escalation_round: int = 0
    declared_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    declared_by: str | None = None
    acknowledged_at: datetime | None = Field(default=None, sa_column=_utc())
    acknowledged_by: str | None = None
    mitigated_at: datetime | None = Field(default=None, sa_column=_utc())
    resolved_at: datetime | None = Field(default=None, sa_column=_utc())
    closed_at: datetime | None = Field(default=None, sa_column=_utc())
    last_update_at: datetime | None = Field(default=None, sa_column=_utc())
    dedup_key: str | None = None
    ticket: str | None = None
    platform: str | None = None  # the chat platform it was declared from
    bridge: str | None = None  # the conference bridge's URL


class TimelineRow(SQLModel, table=True):
    __tablename__ = "timeline_events"
    __table_args__ = (
        UniqueConstraint("incident_id", "source_id", name="uq_timeline_source"),
        Index("ix_timeline_incident_at", "incident_id", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incidents.id")
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    kind: str
    text: str = ""
    actor: str | None = None
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    source_id: str | None = None


class PageRow(SQLModel, table=True):
    __tablename__ = "pages"
    __table_args__ = (
        Index("ix_pages_incident", "incident_id"),
        Index("ix_pages_status", "status"),
        Index("ix_pages_ref", "ref"),
    )

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incidents.id")
    person: str
    channel: str
    step: int = 0
    round: int = 0
    status: str
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    send_at: datetime | None = Field(default=None, sa_column=_utc())
    sent_at: datetime | None = Field(default=None, sa_column=_utc())
    ref: str | None = None
    error: str | None = None
    provider_status: str | None = None


class DeadlineRow(SQLModel, table=True):
    __tablename__ = "deadlines"
    __table_args__ = (Index("ix_deadlines_due", "done", "due_at"),)

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incidents.id")
    kind: str
    due_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    done: bool = False


# The other areas' tables join the same metadata (Alembic and the tests see them all).
import storage.effect_tables  # noqa: E402, F401  (the effect outbox and answered requests)
import storage.intake_tables  # noqa: E402, F401  (alerts, alert groups, signals, webhook deliveries)
import storage.postmortem_tables  # noqa: E402, F401  (postmortems and action items join the metadata)
import storage.schedule_tables  # noqa: E402, F401  (schedule tables join the same metadata)
import storage.stakeholder_tables  # noqa: E402, F401  (live cards, announcements, subscriptions)
import storage.teams_tables  # noqa: E402, F401  (Teams conversation references)
