"""Slack's requests are acted on once, however often they arrive.

The same signed request can arrive twice (a proxy or a person replaying it within the five
minutes its signature is good for), and Slack redelivers an Events API callback it thinks was
lost (`X-Slack-Retry-Num`), signed afresh. So every request to `POST /slack/events` is keyed
after its signature is verified (a forged request must never claim a key): an Events API
callback by its `event_id`, anything else (slash commands, view submissions, block actions) by
its timestamp and signature. The first delivery of a key is handled and its answer remembered;
a duplicate gets that answer back, or an empty 200 while the first is still being handled (which
satisfies Slack's retry), and nothing is done again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from slack_sdk.signature import Clock, SignatureVerifier

log = logging.getLogger(__name__)

# A signature is good for 5 minutes and Slack's last retry of an event comes about 6 minutes
# after the first delivery: 10 minutes covers both.
KEEP = timedelta(minutes=10)
PRUNE_EVERY = timedelta(minutes=1)
# Slack waits 3 seconds for an answer; a request still unanswered after a minute belongs to a
# process that died, and Slack's retry may act in its place.
ABANDONED_AFTER = timedelta(minutes=1)


@dataclass(frozen=True)
class Answer:
    """An HTTP answer as Slack sees it."""

    status: int
    body: str = ""
    content_type: str = ""


class Seen(Protocol):
    @property
    def status(self) -> int: ...
    @property
    def body(self) -> str: ...
    @property
    def content_type(self) -> str: ...


class RequestLog(Protocol):
    """Requests already seen and how they were answered (`storage.request_log`)."""

    def claim(
        self, key: str, *, now: datetime, abandoned_before: datetime | None = None
    ) -> Seen | None: ...
    def remember(self, key: str, *, status: int, body: str, content_type: str) -> None: ...
    def release(self, key: str) -> None: ...
    def prune(self, *, before: datetime) -> int: ...


def _wall_clock() -> datetime:
    return datetime.now(UTC)


class _VerifierClock(Clock):
    def __init__(self, now: Callable[[], datetime]) -> None:
        self._now = now

    def now(self) -> float:
        return self._now().timestamp()


def request_key(body: bytes, headers: Mapping[str, str]) -> str:
    """What makes two deliveries the same request; `headers` with lower-case names."""
    if "json" in headers.get("content-type", ""):
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        if isinstance(payload, dict) and payload.get("type") == "event_callback":
            event_id = payload.get("event_id")
            if isinstance(event_id, str) and event_id:
                return f"event:{event_id}"
    # The signature is an HMAC of the timestamp and the body: the pair names the request.
    signed = f"{headers.get('x-slack-request-timestamp', '')}:{headers.get('x-slack-signature', '')}"
    return "signed:" + hashlib.sha256(signed.encode()).hexdigest()


class SlackReplays:
    """Verifies Slack's signature, then answers a duplicate as the first delivery was answered.

    `answer` blocks (SQL and the handler): call it from a worker thread."""

    def __init__(
        self, *, requests: RequestLog, signing_secret: str,
        now: Callable[[], datetime] = _wall_clock,
    ) -> None:
        self._requests = requests
        self._now = now
        self._verifier = SignatureVerifier(signing_secret, clock=_VerifierClock(now))
        self._pruned_at: datetime | None = None
        self._pruning = threading.Lock()

    def verified(self, body: bytes, headers: Mapping[str, str]) -> bool:
        # slack_sdk fails with a ValueError on a non-numeric timestamp or a body that is not
        # UTF-8: such a request is simply not signed by Slack.
        if not headers.get("x-slack-request-timestamp", "").isdigit():
            return False
        try:
            return self._verifier.is_valid_request(body, dict(headers))
        except ValueError:
            return False

    def answer(
        self, *, body: bytes, headers: Mapping[str, str], handle: Callable[[], Answer]
    ) -> Answer:
        """`handle()`'s answer the first time this request arrives; the same answer (without
        calling `handle`) for a duplicate. A 401 for a request Slack did not sign."""
        if not self.verified(body, headers):
            return Answer(401, "invalid request signature", "text/plain; charset=utf-8")
        key, now = request_key(body, headers), self._now()
        self._prune(now)
        seen = self._requests.claim(key, now=now, abandoned_before=now - ABANDONED_AFTER)
        if seen is not None:
            log.info("Slack sent %s again: answered as the first time, not acted on", key)
            if seen.status == 0:  # the first delivery is still being handled
                return Answer(200)
            return Answer(seen.status, seen.body, seen.content_type)
        try:
            answer = handle()
        except BaseException:
            self._requests.release(key)  # nothing was answered: Slack's retry may act
            raise
        if answer.status >= 500:  # Firebell failed to handle it: Slack's retry may act
            self._requests.release(key)
        else:
            self._requests.remember(key, status=answer.status, body=answer.body,
                               content_type=answer.content_type)
        return answer

    def _prune(self, now: datetime) -> None:
        # Opportunistic, at most once a minute per process: every replica does its share. In a
        # thread of its own: the request that happens to start it does not wait for the DELETE.
        with self._pruning:
            if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY:
                return
            self._pruned_at = now
        threading.Thread(target=self._prune_now, args=(now - KEEP,), name="slack-replays-prune",
                         daemon=True).start()

    def _prune_now(self, before: datetime) -> None:
        try:
            self._requests.prune(before=before)
        except Exception:  # the next minute's prune deletes what this one did not
            log.exception("pruning the Slack request log failed")
