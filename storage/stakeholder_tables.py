"""Messages kept current per incident (its live card, its announcement) and subscriptions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, Index, UniqueConstraint
from sqlmodel import Field, SQLModel


class IncidentPostRow(SQLModel, table=True):
    """One message Firebell edits in place for an incident: `purpose` is "card",
    "announcement", a status page's incident id ("statuspage") ...; `ref` is the platform's id."""

    __tablename__ = "incident_posts"
    __table_args__ = (UniqueConstraint("incident_id", "purpose", name="uq_incident_post"),)

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incidents.id")
    purpose: str
    ref: str
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class SubscriptionRow(SQLModel, table=True):
    """A person following one incident (`kind` "incident", `target` its id) or a service's
    stakeholder updates (`kind` "service", `target` the service id)."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        UniqueConstraint("kind", "target", "person", name="uq_subscription"),
        Index("ix_subscriptions_person", "person"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str
    target: str
    person: str
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
