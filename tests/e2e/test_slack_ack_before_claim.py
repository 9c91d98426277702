"""The Slack ack does not wait for its request's claim to commit; the work after the ack does.

Issue 16: waiting for the replay log's transaction was most of the ack's time. These tests hold
the `requests_seen` table's write lock from another connection (SQLite: another writer;
PostgreSQL: an EXCLUSIVE table lock, which lets reads through), so no claim can commit: the
ack must still come, nothing may be done until the lock is gone, and then exactly once, also
when two replicas race on the same delivery.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import Engine, text

from bot.slack.replays import Answer, SlackReplays, after_claim
from storage.request_log import SqlRequestLog
from storage.store import SqlStore
from tests.support.slack_helpers import SIGNING_SECRET, Harness, signature_headers
from workflows.clock import FakeClock

pytestmark = pytest.mark.slow

START = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
SETTLE = 0.5  # long enough for work that must not happen yet to show up


@contextmanager
def _claims_held(engine: Engine) -> Iterator[None]:
    """No claim can be written to the request log meanwhile; reads still can."""
    with engine.connect() as connection:
        connection.begin()  # SQLite: BEGIN IMMEDIATE (storage/db.py), its one write lock
        if engine.dialect.name != "sqlite":
            connection.execute(text("LOCK TABLE requests_seen IN EXCLUSIVE MODE"))
        try:
            yield
        finally:
            connection.rollback()


def _until(predicate: Callable[[], Any], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture
def h(tmp_path: Path, database_url: str) -> Iterator[Harness]:
    harness = Harness(tmp_path, clock=FakeClock(START), database_url=database_url)
    yield harness
    harness.close()


def test_the_ack_comes_before_the_claim_commits_and_the_work_after(h: Harness) -> None:
    with _claims_held(h.firebell.store.engine):
        # Without the change this waits for the lock (the client gives up after 10 s).
        first, key = h.slack.command("/oncall", "payments")
        assert (first.status_code, first.text) == (200, "")
        during = h.slack.replay()  # a duplicate in this process, answered from memory
        assert (during.status_code, during.text) == (200, "")
        time.sleep(SETTLE)
        assert h.fake.texts(key) == []  # not acted on while the claim is not committed
    [answer] = h.fake.wait_for_response(key)
    assert "payments" in answer
    after = h.slack.replay()  # now from the log
    assert (after.status_code, after.text) == (200, "")
    time.sleep(SETTLE)
    assert h.fake.texts(key) == [answer]


def test_two_replicas_racing_on_one_delivery_both_ack_and_one_acts(store: SqlStore) -> None:
    replicas = {name: SlackReplays(requests=SqlRequestLog(store.engine),
                                   signing_secret=SIGNING_SECRET) for name in ("a", "b")}
    body = "command=%2Fincident&text=page+%40erin&user_id=U0BOB"
    headers = {k.lower(): v for k, v in signature_headers(body).items()}
    acted: list[str] = []

    def handler(name: str) -> Callable[[], Answer]:
        def handle() -> Answer:
            after_claim(lambda: acted.append(name))  # what a listener hands on after its ack
            return Answer(200)
        return handle

    with _claims_held(store.engine):
        for name, replica in replicas.items():
            assert replica.answer(body=body.encode(), headers=headers,
                                  handle=handler(name)) == Answer(200)
        time.sleep(SETTLE)
        assert acted == []
    _until(lambda: acted)
    time.sleep(SETTLE)
    assert len(acted) == 1
    for replica in replicas.values():  # the answer is in the log now: duplicates do nothing
        _until(lambda replica=replica: replica.answer(
            body=body.encode(), headers=headers,
            handle=lambda: pytest.fail("a duplicate was handled")) == Answer(200))
    assert len(acted) == 1


def test_work_outside_a_slack_request_is_done_at_once() -> None:
    done: list[int] = []
    after_claim(lambda: done.append(1))  # Socket Mode: no replays, no claim to wait for
    assert done == [1]


class _ClaimsFail:
    """A request log (the port) whose claims fail once the test says so: a database that takes
    reads but no write (full disk, read-only file, locked past the busy timeout)."""

    def __init__(self) -> None:
        self.claim: Future[Any] = Future()

    def answered(self, key: str, *, abandoned_before: datetime) -> None:
        return None

    def claim_soon(self, key: str, *, now: datetime,
                   abandoned_before: datetime | None = None) -> Future[Any]:
        return self.claim

    def remember(self, key: str, *, status: int, body: str, content_type: str) -> Future[Any]:
        raise AssertionError("nothing is remembered for a claim that failed")

    def release(self, key: str) -> None:
        pass

    def prune(self, *, before: datetime) -> int:
        return 0


def test_a_claim_that_fails_after_the_ack_is_not_acted_on_and_the_person_is_told(
        h: Harness) -> None:
    log = _ClaimsFail()
    replays = SlackReplays(requests=log, signing_secret=SIGNING_SECRET)
    key, response_url = h.fake.response_url()
    body = urlencode({"command": "/incident", "text": "declare P1 Checkout down",
                      "user_id": "U0BOB", "response_url": response_url})
    headers = {k.lower(): v for k, v in signature_headers(body).items()}
    acted: list[int] = []

    def handle() -> Answer:
        after_claim(lambda: acted.append(1))
        return Answer(200)

    assert replays.answer(body=body.encode(), headers=headers, handle=handle) == Answer(200)
    log.claim.set_exception(OSError("database or disk is full"))
    [told] = h.fake.wait_for_response(key)
    assert "nothing was done" in told and "try again" in told
    assert acted == []
