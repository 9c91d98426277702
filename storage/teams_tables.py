"""Teams conversation references: where the Bot Connector reaches a conversation or a person.

Written only from authenticated inbound activities (bot/teams/app.py), so every service URL here
is one Microsoft vouched for in a signed token; Firebell sends nowhere else.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime
from sqlmodel import Field, SQLModel


class TeamsConversationRow(SQLModel, table=True):
    """A conversation the bot is in (a 1:1 chat, a group chat, a channel or a channel thread)."""

    __tablename__ = "teams_conversations"

    conversation_id: str = Field(primary_key=True)
    service_url: str
    tenant_id: str = ""
    conversation_type: str = ""  # Teams' conversationType: personal, groupChat, channel
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class TeamsUserRow(SQLModel, table=True):
    """A Teams user (Entra object id) the bot has seen, and their 1:1 chat with it once known."""

    __tablename__ = "teams_users"

    aad_object_id: str = Field(primary_key=True)
    service_url: str
    tenant_id: str = ""
    personal_conversation_id: str | None = None
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
