"""Teams conversation references, by conversation and by user (`teams_conversations`,
`teams_users`).

Each write is a short transaction of its own, outside any workflow's: a reference is a fact about
Teams, true whether or not the command that came with it succeeds. Only authenticated inbound
activities write here (bot/teams/app.py), so a stored service URL is one Microsoft signed for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.dialects import postgresql, sqlite

from storage.db import utc
from storage.teams_tables import TeamsConversationRow, TeamsUserRow

CONVERSATIONS = TeamsConversationRow.__table__  # type: ignore[attr-defined]
USERS = TeamsUserRow.__table__  # type: ignore[attr-defined]
PERSONAL = "personal"  # Teams' conversationType of a 1:1 chat with the bot


@dataclass(frozen=True)
class ConversationRef:
    """Where the Bot Connector reaches one conversation."""

    conversation_id: str
    service_url: str
    tenant_id: str = ""
    conversation_type: str = ""


@dataclass(frozen=True)
class UserRef:
    """A Teams user the bot has seen: the service URL of their tenant and, once they have talked
    to the bot 1:1 (or it opened that chat), the 1:1 conversation."""

    aad_object_id: str
    service_url: str
    tenant_id: str = ""
    personal_conversation_id: str | None = None


class SqlTeamsStore:
    """Conversation references over SQLite or PostgreSQL (upserts: the newest reference wins)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._insert = sqlite.insert if engine.dialect.name == "sqlite" else postgresql.insert

    def remember(self, conversation: ConversationRef, *, user: str | None, now: datetime) -> None:
        """Store `conversation` and, when `user` (an Entra object id) spoke in it, that user;
        a 1:1 conversation becomes the user's personal conversation."""
        personal = conversation.conversation_type == PERSONAL
        with self.engine.begin() as connection:
            values: dict[str, Any] = {
                "conversation_id": conversation.conversation_id,
                "service_url": conversation.service_url, "tenant_id": conversation.tenant_id,
                "conversation_type": conversation.conversation_type, "updated_at": utc(now),
            }
            connection.execute(self._upsert(CONVERSATIONS, values, key="conversation_id"))
            if user:
                values = {"aad_object_id": user, "service_url": conversation.service_url,
                          "tenant_id": conversation.tenant_id, "updated_at": utc(now)}
                if personal:
                    values["personal_conversation_id"] = conversation.conversation_id
                connection.execute(self._upsert(USERS, values, key="aad_object_id"))

    def set_personal(self, user: str, *, conversation_id: str, now: datetime) -> None:
        """The 1:1 conversation the bot opened with `user` (a user it has seen)."""
        with self.engine.begin() as connection:
            connection.execute(
                USERS.update().where(USERS.c.aad_object_id == user)
                .values(personal_conversation_id=conversation_id, updated_at=utc(now))
            )

    def conversation(self, conversation_id: str) -> ConversationRef | None:
        with self.engine.connect() as connection:
            row = connection.execute(
                select(CONVERSATIONS).where(CONVERSATIONS.c.conversation_id == conversation_id)
            ).one_or_none()
        if row is None:
            return None
        return ConversationRef(conversation_id=row.conversation_id, service_url=row.service_url,
                               tenant_id=row.tenant_id, conversation_type=row.conversation_type)

    def user(self, aad_object_id: str) -> UserRef | None:
        with self.engine.connect() as connection:
            row = connection.execute(
                select(USERS).where(USERS.c.aad_object_id == aad_object_id)
            ).one_or_none()
        if row is None:
            return None
        return UserRef(aad_object_id=row.aad_object_id, service_url=row.service_url,
                       tenant_id=row.tenant_id,
                       personal_conversation_id=row.personal_conversation_id)

    def knows_service_url(self, service_url: str) -> bool:
        """Whether an authenticated activity ever came from `service_url`."""
        wanted = service_url.rstrip("/")
        with self.engine.connect() as connection:
            found = connection.execute(
                select(CONVERSATIONS.c.conversation_id)
                .where(CONVERSATIONS.c.service_url.in_([wanted, wanted + "/"])).limit(1)
            ).first()
        return found is not None

    def _upsert(self, table: Any, values: dict[str, Any], *, key: str) -> Any:
        changed = {k: v for k, v in values.items() if k != key}
        return self._insert(table).values(**values).on_conflict_do_update(
            index_elements=[key], set_=changed)
