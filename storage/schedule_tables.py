"""Tables of schedule versions, shift offers and handoff notices (see workflows/oncall/model.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, UniqueConstraint
from sqlmodel import Field, SQLModel


class ScheduleVersionRow(SQLModel, table=True):
    __tablename__ = "schedule_versions"
    __table_args__ = (UniqueConstraint("schedule", "number", name="uq_schedule_version"),)

    id: int | None = Field(default=None, primary_key=True)
    schedule: str
    number: int
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    author: str
    reason: str = ""
    catalog_digest: str
    restores: int | None = None
    base: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    overrides: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )


class ShiftOfferRow(SQLModel, table=True):
    __tablename__ = "shift_offers"
    __table_args__ = (Index("ix_shift_offers_schedule", "schedule"),)

    id: int | None = Field(default=None, primary_key=True)
    schedule: str
    person: str
    kind: str
    start: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    end: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    taken_by: str | None = None
    taken_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    extra: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class HandoffNoticeRow(SQLModel, table=True):
    __tablename__ = "handoff_notices"
    __table_args__ = (UniqueConstraint("schedule", "at", name="uq_handoff_notice"),)

    id: int | None = Field(default=None, primary_key=True)
    schedule: str
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
