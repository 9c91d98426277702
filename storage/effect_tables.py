"""Tables of durable effects: the outbox, and the fingerprints of requests already answered."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, Text, text
from sqlmodel import Field, SQLModel

_PENDING = text("status = 'pending'")
_PENDING_PAGE = text("status = 'pending' AND kind = 'page'")


class EffectRow(SQLModel, table=True):
    """Something owed to the outside world (a post, a page, a channel), written with the state
    change that owes it and claimed under a lease by whoever performs it."""

    __tablename__ = "effects"
    __table_args__ = (
        Index("ix_effects_pending", "status", "not_before"),
        Index("ix_effects_incident", "incident_id", "status"),
        Index("ix_effects_done_at", "done_at"),  # retention (storage/retention.py)
        # What the dispatcher walks in id order when it claims (storage/store.claim_effects).
        Index("ix_effects_pending_pages", "id", postgresql_where=_PENDING_PAGE,
              sqlite_where=_PENDING_PAGE),
        Index("ix_effects_pending_ids", "id", postgresql_where=_PENDING,
              sqlite_where=_PENDING),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True)  # idempotency key: the same effect is never written twice
    incident_id: int | None = None
    kind: str
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    ordered: bool = True  # performed after the incident's earlier ordered effects
    status: str = "pending"  # pending | done | failed
    attempts: int = 0
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    not_before: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    lease_until: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    lease_owner: str | None = None
    done_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    result: str | None = None
    error: str | None = None


class RequestSeenRow(SQLModel, table=True):
    """A signed request (or an Events API event) already acted on, with the answer it got."""

    __tablename__ = "requests_seen"

    key: str = Field(primary_key=True)
    seen_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, index=True))
    status: int = 0  # 0 while the first delivery is still being handled
    body: str = Field(default="", sa_column=Column(Text, nullable=False))
    content_type: str = ""
