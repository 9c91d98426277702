"""The Slack request log group-commits: requests arriving while a transaction is written share
the next one, every claim still sees every answer remembered before it, and pruning never holds
a request up (issue 16: the request log's transactions were most of the ack path's time)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Connection, Engine, text

from bot.slack.replays import KEEP, Answer, SlackReplays
from storage.request_log import SeenRequest, SqlRequestLog
from storage.store import SqlStore
from tests.support.slack_helpers import SIGNING_SECRET, signature_headers

START = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
SETTLE = 0.5  # long enough for every thread to be queued behind the held lock


class _CountingEngine:
    """The store's engine, counting the transactions begun through it."""

    def __init__(self, engine: Engine) -> None:
        self.engine, self.dialect, self.transactions = engine, engine.dialect, 0
        self._lock = threading.Lock()

    def execution_options(self, **options: Any) -> Engine:
        return self.engine.execution_options(**options)  # reads: not counted

    def begin(self) -> AbstractContextManager[Connection]:
        with self._lock:
            self.transactions += 1
        return self.engine.begin()


def test_claims_queued_behind_a_transaction_share_the_next_one(store: SqlStore) -> None:
    counting = _CountingEngine(store.engine)
    requests = SqlRequestLog(cast(Engine, counting))
    claimers = 20
    with store.engine.connect() as holder, ThreadPoolExecutor(claimers) as pool:
        # Another writer holds the lock: the first claim waits for it, the others queue.
        holder.begin()
        if store.engine.dialect.name == "postgresql":
            holder.execute(text("LOCK TABLE requests_seen IN EXCLUSIVE MODE"))
        claims = [pool.submit(requests.claim, f"key{n}", now=START) for n in range(claimers)]
        time.sleep(SETTLE)
        holder.commit()
        assert [claim.result(timeout=30) for claim in claims] == [None] * claimers
    # The first claim's transaction, then one for the 19 queued behind it (not 20 of them).
    assert counting.transactions <= 3
    assert all(requests.claim(f"key{n}", now=START) is not None for n in range(claimers))


def test_every_claim_sees_the_answers_remembered_before_it(store: SqlStore) -> None:
    requests = SqlRequestLog(store.engine)
    start = threading.Barrier(10)

    def answer_then_replay(worker: int) -> list[SeenRequest | None]:
        start.wait()
        seen = []
        for n in range(10):
            key = f"w{worker}.{n}"
            assert requests.claim(key, now=START) is None
            # Its caller does not wait for this write; a later claim must still find it.
            requests.remember(key, status=200, body=key, content_type="text/plain")
            seen.append(requests.claim(key, now=START))
        return seen

    with ThreadPoolExecutor(10) as pool:
        results = dict(enumerate(pool.map(answer_then_replay, range(10))))
    for worker, seen in results.items():
        assert seen == [SeenRequest(200, f"w{worker}.{n}", "text/plain") for n in range(10)]


def _done(value: Any) -> Future[Any]:
    future: Future[Any] = Future()
    future.set_result(value)
    return future


class _SlowPruneLog:
    """A request log whose prune takes as long as the test says."""

    def __init__(self) -> None:
        self.pruning = threading.Event()
        self.go_on = threading.Event()
        self.pruned_before: list[datetime] = []

    def answered(self, key: str, *, abandoned_before: datetime) -> None:
        return None

    def claim_soon(self, key: str, *, now: datetime,
                   abandoned_before: datetime | None = None) -> Future[SeenRequest | None]:
        return _done(None)

    def remember(self, key: str, *, status: int, body: str, content_type: str) -> Future[None]:
        return _done(None)

    def release(self, key: str) -> None:
        pass

    def prune(self, *, before: datetime) -> int:
        self.pruning.set()
        self.go_on.wait(timeout=30)
        self.pruned_before.append(before)
        return 0


def test_a_request_does_not_wait_for_the_prune_it_starts() -> None:
    log = _SlowPruneLog()
    replays = SlackReplays(requests=log, signing_secret=SIGNING_SECRET, now=lambda: now)
    now = datetime.now(UTC)
    body = "command=%2Foncall&text=payments"
    headers: dict[str, Any] = {k.lower(): v for k, v in signature_headers(body).items()}

    answered: list[Answer] = []
    request = threading.Thread(target=lambda: answered.append(
        replays.answer(body=body.encode(), headers=headers, handle=lambda: Answer(200))))
    request.start()
    request.join(timeout=10)
    assert log.pruning.wait(timeout=10)
    assert answered == [Answer(200)]  # answered while the prune is still running
    log.go_on.set()
    deadline = time.monotonic() + 10
    while not log.pruned_before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert log.pruned_before == [now - KEEP]
