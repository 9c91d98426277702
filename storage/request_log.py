"""Requests already answered: the `requests_seen` table, for replays of Slack's requests.

A request is claimed before it acts and its answer remembered after, outside any workflow's
transaction: a concurrent duplicate must see the claim while the first delivery is still being
handled, and the claim must outlive a handler that fails.

Writes are group-committed by one writer thread: the claims and answers that arrive while a
transaction is being written queue, and the next transaction writes them all. Issue 16: with
two transactions of its own per request, concurrent acks queued for SQLite's one write lock,
whose busy handler sleeps up to 100 ms between tries (p99 4.7x a bare Bolt app's at concurrency
20). `claim_soon` does not wait for the transaction at all: the Slack ack is sent while its claim
commits, and only the work after the ack waits for the claim (bot/slack/replays.py).
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
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
    """One caller's write, waiting for a transaction. `answer` is a `remember`'s, `release`
    marks a `release`; anything else is a claim. `done` gets the claim's outcome (None for the
    others) once the write is committed, or the error that kept it from being written."""

    key: str
    now: datetime | None = None
    abandoned_before: datetime | None = None
    answer: SeenRequest | None = None
    release: bool = False
    done: Future[SeenRequest | None] = field(default_factory=Future)
    result: SeenRequest | None = None


class SqlRequestLog:
    """The request log over SQLite (BEGIN IMMEDIATE: one writer at a time) or PostgreSQL
    (INSERT ... ON CONFLICT DO NOTHING: of two racing claims, one inserts, the other waits for
    it to commit and then finds the row)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._reader = engine.execution_options(firebell_reading=True)  # SQLite: no write lock
        self._insert = sqlite.insert if engine.dialect.name == "sqlite" else postgresql.insert
        self._lock = threading.Lock()
        self._queue: list[_Write] = []
        self._writing = False
        # One thread writes; a pool's thread, so that what is queued at exit is still written.
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="request-log")

    def claim(
        self, key: str, *, now: datetime, abandoned_before: datetime | None = None
    ) -> SeenRequest | None:
        """None if this caller is the first to claim `key` (it must then `remember` or
        `release` it), else how the first was answered. A claim still in progress since before
        `abandoned_before` (its process died mid-request) is taken over."""
        return self.claim_soon(key, now=now, abandoned_before=abandoned_before).result()

    def claim_soon(
        self, key: str, *, now: datetime, abandoned_before: datetime | None = None
    ) -> Future[SeenRequest | None]:
        """`claim` without waiting: the future gets its outcome once the claim is committed."""
        return self._write(_Write(key, now=utc(now), abandoned_before=abandoned_before))

    def answered(self, key: str, *, abandoned_before: datetime) -> SeenRequest | None:
        """How `key` was answered (status 0: still in progress) if it was seen and not
        abandoned in progress before `abandoned_before`; None if a claim would win. A read:
        it waits for no writer, and a claim must still decide between racing deliveries."""
        with self._reader.connect() as connection:
            row = connection.execute(
                select(SEEN.c.status, SEEN.c.body, SEEN.c.content_type, SEEN.c.seen_at)
                .where(SEEN.c.key == key)
            ).one_or_none()
        if row is None or (row.status == IN_PROGRESS
                           and utc(row.seen_at) < utc(abandoned_before)):
            return None
        return SeenRequest(status=row.status, body=row.body, content_type=row.content_type)

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

    def remember(
        self, key: str, *, status: int, body: str, content_type: str
    ) -> Future[SeenRequest | None]:
        """The answer to `key`, which a duplicate is given from now on. Written with the next
        transaction (the caller need not wait: the future is done when it is committed); any
        claim made after this call is written after it, so a duplicate never misses it. A
        duplicate on another replica in the meantime finds the claim still in progress."""
        return self._write(_Write(key, answer=SeenRequest(status, body, content_type)))

    def release(self, key: str) -> None:
        """Give up a claim still in progress: the next delivery of `key` is handled afresh."""
        self._write(_Write(key, release=True)).result()

    def prune(self, *, before: datetime, batch: int = 1000) -> int:
        """Forget requests first seen before `before`, `batch` rows per transaction (a backlog
        never holds the writer's lock long); returns how many."""
        return delete_in_batches(self.engine, SEEN, SEEN.c.key, SEEN.c.seen_at < utc(before),
                                 batch=batch)

    def _write(self, write: _Write) -> Future[SeenRequest | None]:
        """Queue `write` for the writer thread, starting it if it is idle."""
        with self._lock:
            self._queue.append(write)
            start, self._writing = not self._writing, True
        if start:
            self._writer.submit(self._drain)
        return write.done

    def _drain(self) -> None:
        """Write what is queued, a transaction per batch, until nothing is."""
        while True:
            with self._lock:
                batch, self._queue = self._queue, []
                if not batch:
                    self._writing = False
                    return
            errors = self._commit(batch)
            # Outside the lock: a future's callbacks may queue the next write (an answer).
            for write in batch:
                if write in errors:
                    write.done.set_exception(errors[write])
                else:
                    write.done.set_result(write.result)

    def _commit(self, batch: list[_Write]) -> dict[_Write, BaseException]:
        """Commit `batch`; the writes that could not be written, with why."""
        errors: dict[_Write, BaseException] = {}
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
                    errors[write] = error
                    if write.answer is not None:  # nobody may be waiting to hear of it
                        log.error("a write to the request log failed", exc_info=error)
        return errors

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
