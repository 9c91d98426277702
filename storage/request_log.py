"""Requests already answered: the `requests_seen` table, for replays of Slack's requests.

A request is claimed before it is handled and its answer remembered after, each in a short
transaction of its own, outside any workflow's: a concurrent duplicate must see the claim while
the first delivery is still being handled, and the claim must outlive a handler that fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from storage.db import utc
from storage.effect_tables import RequestSeenRow

SEEN = RequestSeenRow.__table__  # type: ignore[attr-defined]
IN_PROGRESS = 0  # the status of a claim whose answer is not known yet


@dataclass(frozen=True)
class SeenRequest:
    """How a request already seen was answered; `status` 0 while it is still being handled."""

    status: int
    body: str
    content_type: str


class SqlRequestLog:
    """The request log over SQLite (BEGIN IMMEDIATE: one writer at a time) or PostgreSQL
    (INSERT ... ON CONFLICT DO NOTHING: of two racing claims, one inserts, the other waits for
    it to commit and then finds the row)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._insert = sqlite.insert if engine.dialect.name == "sqlite" else postgresql.insert

    def claim(
        self, key: str, *, now: datetime, abandoned_before: datetime | None = None
    ) -> SeenRequest | None:
        """None if this caller is the first to claim `key` (it must then `remember` or
        `release` it), else how the first was answered. A claim still in progress since before
        `abandoned_before` (its process died mid-request) is taken over."""
        for _ in range(3):
            with self.engine.begin() as connection:
                claimed, seen = self._claim(connection, key, now=utc(now),
                                            abandoned_before=abandoned_before)
            if claimed:
                return None
            if seen is not None:
                return seen
            # Released between our INSERT and SELECT (the first delivery failed): try again.
        return SeenRequest(status=IN_PROGRESS, body="", content_type="")

    def _claim(
        self, connection: Connection, key: str, *, now: datetime,
        abandoned_before: datetime | None,
    ) -> tuple[bool, SeenRequest | None]:
        inserted = connection.execute(
            self._insert(SEEN)
            .values(key=key, seen_at=now, status=IN_PROGRESS, body="", content_type="")
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(SEEN.c.key)
        ).scalar()
        if inserted is not None:
            return True, None
        if abandoned_before is not None:
            taken = connection.execute(
                update(SEEN)
                .where(SEEN.c.key == key, SEEN.c.status == IN_PROGRESS,
                       SEEN.c.seen_at < utc(abandoned_before))
                .values(seen_at=now)
            )
            if taken.rowcount == 1:
                return True, None
        row = connection.execute(
            select(SEEN.c.status, SEEN.c.body, SEEN.c.content_type).where(SEEN.c.key == key)
        ).one_or_none()
        if row is None:
            return False, None
        return False, SeenRequest(status=row.status, body=row.body, content_type=row.content_type)

    def remember(self, key: str, *, status: int, body: str, content_type: str) -> None:
        """The answer to `key`, which a duplicate is given from now on."""
        with self.engine.begin() as connection:
            connection.execute(
                update(SEEN).where(SEEN.c.key == key)
                .values(status=status, body=body, content_type=content_type)
            )

    def release(self, key: str) -> None:
        """Give up a claim still in progress: the next delivery of `key` is handled afresh."""
        with self.engine.begin() as connection:
            connection.execute(
                delete(SEEN).where(SEEN.c.key == key, SEEN.c.status == IN_PROGRESS)
            )

    def prune(self, *, before: datetime) -> int:
        """Forget requests first seen before `before`; returns how many."""
        with self.engine.begin() as connection:
            result = connection.execute(delete(SEEN).where(SEEN.c.seen_at < utc(before)))
        return int(result.rowcount)
