"""Requests already answered: the `requests_seen` table, for replays of Slack's requests.

A request is claimed before it is handled and its answer remembered after, outside any
workflow's transaction: a concurrent duplicate must see the claim while the first delivery is
still being handled, and the claim must outlive a handler that fails.

Writes are group-committed: while one transaction is being written, the claims and answers of
the requests that arrive meanwhile queue, and the next transaction writes them all. A claim's
caller waits for its commit; an answer rides along with the next transaction (its caller goes
on). Issue 16: with two transactions of its own per request, concurrent acks queued for
SQLite's one write lock, whose busy handler sleeps up to 100 ms between tries; that was most of
the ack path's time (p99 4.7x a bare Bolt app's at concurrency 20).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, Engine, bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from storage.db import utc
from storage.effect_tables import RequestSeenRow
from storage.retention import delete_in_batches

SEEN = RequestSeenRow.__table__  # type: ignore[attr-defined]
log = logging.getLogger(__name__)
IN_PROGRESS = 0  # the status of a claim whose answer is not known yet


@dataclass(frozen=True)
class SeenRequest:
    """How a request already seen was answered; `status` 0 while it is still being handled."""

    status: int
    body: str
    content_type: str


@dataclass(eq=False)
class _Write:
    """One caller's write, waiting for a transaction; `lead` when it is to write one. `answer`
    is a `remember`'s, `release` marks a `release`; anything else is a claim."""

    key: str
    waits: bool
    now: datetime | None = None
    abandoned_before: datetime | None = None
    answer: SeenRequest | None = None
    release: bool = False
    wake: threading.Event = field(default_factory=threading.Event)
    lead: bool = False
    done: bool = False
    result: SeenRequest | None = None
    error: BaseException | None = None

    def outcome(self) -> SeenRequest | None:
        if self.error is not None:
            raise self.error
        return self.result


class SqlRequestLog:
    """The request log over SQLite (BEGIN IMMEDIATE: one writer at a time) or PostgreSQL
    (INSERT ... ON CONFLICT DO NOTHING: of two racing claims, one inserts, the other waits for
    it to commit and then finds the row)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._insert = sqlite.insert if engine.dialect.name == "sqlite" else postgresql.insert
        self._lock = threading.Lock()
        self._queue: list[_Write] = []
        self._writing = False

    def claim(
        self, key: str, *, now: datetime, abandoned_before: datetime | None = None
    ) -> SeenRequest | None:
        """None if this caller is the first to claim `key` (it must then `remember` or
        `release` it), else how the first was answered. A claim still in progress since before
        `abandoned_before` (its process died mid-request) is taken over."""

        return self._write(_Write(key, waits=True, now=utc(now), abandoned_before=abandoned_before))

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
        """The answer to `key`, which a duplicate is given from now on. Written with the next
        transaction when one is under way (the caller does not wait for it): any claim made
        after this call is written after it, so a duplicate never misses it; a duplicate on
        another replica in the meantime finds the claim still in progress (an empty 200)."""
        self._write(_Write(key, waits=False, answer=SeenRequest(status, body, content_type)))

    def release(self, key: str) -> None:
        """Give up a claim still in progress: the next delivery of `key` is handled afresh."""
        self._write(_Write(key, waits=True, release=True))

    def prune(self, *, before: datetime, batch: int = 1000) -> int:
        """Forget requests first seen before `before`, `batch` rows per transaction (a backlog
        never holds the writer's lock long); returns how many."""
        return delete_in_batches(self.engine, SEEN, SEEN.c.key, SEEN.c.seen_at < utc(before),
                                 batch=batch)

    def _write(self, write: _Write) -> SeenRequest | None:
        """Write `write` in a committed transaction shared with whatever other writes queue
        meanwhile: the first caller to find nobody writing writes everything queued, then hands
        the queue on to the first caller waiting in it. A write nobody waits for is left to the
        writer at work, if any (or its successor), and its caller goes on."""
        with self._lock:
            self._queue.append(write)
            write.lead = not self._writing
            self._writing = True
        if not write.lead:
            if not write.waits:
                return None
            write.wake.wait()
            if not write.lead:
                return write.outcome()
        while True:  # leading: our own write is in the first batch taken
            with self._lock:
                if write.done:
                    successor = next((queued for queued in self._queue if queued.waits), None)
                    if successor is not None:
                        successor.lead = True
                        successor.wake.set()
                        break
                    if not self._queue:
                        self._writing = False
                        break
                    # Only writes nobody waits for are left: ours to write too.
                batch, self._queue = self._queue, []
            self._commit(batch)
        return write.outcome()

    def _commit(self, batch: list[_Write]) -> None:
        try:
            with self.engine.begin() as connection:
                self._statements(connection, batch)
        except Exception:
            # One caller's failure (or a deadlock between replicas' batches) must not fail
            # the others: each is tried again alone, and gets its own result or error.
            for write in batch:
                try:
                    with self.engine.begin() as connection:
                        self._statements(connection, [write])
                except Exception as error:
                    write.error = error
                    if not write.waits:  # nobody is left to tell
                        log.error("a write to the request log failed", exc_info=error)
        for write in batch:
            write.done = True
            if write.waits and not write.lead:
                write.wake.set()

    def _statements(self, connection: Connection, batch: list[_Write]) -> None:
        """A few statements for the whole batch, not a few per write: under load each one
        waits for the GIL again. Answers and releases first (they follow claims committed
        earlier), so a claim sees every answer remembered before it."""
        answers = [{"k": w.key, "status": w.answer.status, "body": w.answer.body,
                    "content_type": w.answer.content_type} for w in batch if w.answer]
        if answers:
            connection.execute(
                update(SEEN).where(SEEN.c.key == bindparam("k")),
                answers,
            )
        if released := [w.key for w in batch if w.release]:
            connection.execute(
                delete(SEEN).where(SEEN.c.key.in_(released), SEEN.c.status == IN_PROGRESS)
            )
        claims = [w for w in batch if w.now is not None]
        first = {w.key: w for w in reversed(claims)}  # a key's first claim in the batch
        inserted: set[str] = set()
        if first:
            inserted = set(connection.execute(
                self._insert(SEEN)
                .values([{"key": key, "seen_at": w.now, "status": IN_PROGRESS, "body": "",
                          "content_type": ""} for key, w in first.items()])
                .on_conflict_do_nothing(index_elements=["key"])
                .returning(SEEN.c.key)
            ).scalars())
        for w in claims:
            if w.key in inserted and first[w.key] is w:
                w.result = None
            else:  # a duplicate: taken over if abandoned, else how it was answered
                w.result = self._claim_again(connection, w)

    def _claim_again(self, connection: Connection, write: _Write) -> SeenRequest | None:
        assert write.now is not None
        for _ in range(3):
            claimed, seen = self._claim(connection, write.key, now=write.now,
                                        abandoned_before=write.abandoned_before)
            if claimed:
                return None
            if seen is not None:
                return seen
            # Released between our INSERT and SELECT (the first delivery failed, on another
            # replica): try again.
        return SeenRequest(status=IN_PROGRESS, body="", content_type="")
