"""Tables of what follows an incident: postmortems, action items, one-off marks."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Date, DateTime, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def _utc(nullable: bool = True) -> Any:
    return Column(DateTime(timezone=True), nullable=nullable)


class PostmortemRow(SQLModel, table=True):
    __tablename__ = "postmortems"
    __table_args__ = (
        UniqueConstraint("incident_id", name="uq_postmortems_incident"),
        Index("ix_postmortems_reminder", "state", "next_reminder_at"),
        Index("ix_postmortems_cause", "cause"),
        Index("ix_postmortems_next_reminder", "next_reminder_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incidents.id")
    state: str
    required: bool = False
    cause: str | None = None
    text: str = Field(default="", sa_column=Column(Text, nullable=False))
    flags: list[dict[str, str]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    reminders: int = 0
    created_at: datetime = Field(sa_column=_utc(False))
    due_at: datetime | None = Field(default=None, sa_column=_utc())
    next_reminder_at: datetime | None = Field(default=None, sa_column=_utc())
    drafted_at: datetime | None = Field(default=None, sa_column=_utc())
    published_at: datetime | None = Field(default=None, sa_column=_utc())
    updated_at: datetime | None = Field(default=None, sa_column=_utc())


class ActionItemRow(SQLModel, table=True):
    __tablename__ = "action_items"
    __table_args__ = (
        Index("ix_action_items_incident", "incident_id"),
        Index("ix_action_items_open", "state", "team"),
        Index("ix_action_items_reminder", "state", "next_reminder_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incidents.id")
    team: str
    title: str = Field(sa_column=Column(Text, nullable=False))
    owner: str
    due_on: date = Field(sa_column=Column(Date, nullable=False))
    state: str
    ticket: str | None = None
    created_by: str | None = None
    reminders: int = 0
    created_at: datetime = Field(sa_column=_utc(False))
    done_at: datetime | None = Field(default=None, sa_column=_utc())
    next_reminder_at: datetime | None = Field(default=None, sa_column=_utc())


class FollowUpMarkRow(SQLModel, table=True):
    """A key claimed once (a team's weekly summary, a handoff reminder): done exactly once."""

    __tablename__ = "followup_marks"

    key: str = Field(primary_key=True)
    at: datetime = Field(sa_column=_utc(False))
