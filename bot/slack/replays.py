"""Slack's requests are acted on once, however often they arrive.

The same signed request can arrive twice (a proxy or a person replaying it within the five
minutes its signature is good for), and Slack redelivers an Events API callback it thinks was
lost (`X-Slack-Retry-Num`), signed afresh. So every request to `POST /slack/events` is keyed
after its signature is verified (a forged request must never claim a key): an Events API
callback by its `event_id`, anything else (slash commands, view submissions, block actions) by
its timestamp and signature. The first delivery of a key is handled and its answer remembered;
a duplicate gets that answer back, or an empty 200 while the first is still being handled (which
satisfies Slack's retry), and nothing is done again.

The ack does not wait for the claim to commit (issue 16: that wait was most of the ack's time).
A delivery already in the log, or being handled in this process, is answered as a duplicate at
once; any other is handled (Bolt acks) while its claim commits, and the work its listeners hand
on after the ack (`after_claim`) runs only once the claim is won. Of two deliveries racing on
two replicas, both may ack, but only the claim's winner acts; the other's work is dropped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import parse_qs

from slack_sdk.signature import Clock, SignatureVerifier
from slack_sdk.webhook import WebhookClient

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

    def answered(self, key: str, *, abandoned_before: datetime) -> Seen | None: ...
    def claim_soon(
        self, key: str, *, now: datetime, abandoned_before: datetime | None = None
    ) -> Future[Any]: ...
    def remember(self, key: str, *, status: int, body: str, content_type: str) -> Future[Any]: ...
    def release(self, key: str) -> None: ...
    def prune(self, *, before: datetime) -> int: ...


_handling = threading.local()  # `acts`: the work of the request this thread is handling


def after_claim(act: Callable[[], None]) -> None:
    """Do `act`, the work a listener hands on after its ack, once the request is known to be
    its first delivery: queued while `SlackReplays.answer` handles the request in this thread,
    else (Socket Mode, which Slack does not replay) at once."""
    acts: list[Callable[[], None]] | None = getattr(_handling, "acts", None)
    if acts is None:
        act()
    else:
        acts.append(act)


NOT_DONE = ("Firebell could not record this request (its database did not take the write), "
            "so nothing was done. Please try again.")


def _tell_not_done(body: bytes) -> None:
    """Say on the request's response_url (a slash command's or an interaction's) that it was
    acknowledged but not acted on; quietly nothing where the request has none (events)."""
    try:
        form = parse_qs(body.decode(), keep_blank_values=True)
        url = (form.get("response_url") or [""])[0]
        if not url and form.get("payload"):
            payload = json.loads(form["payload"][0])
            url = payload.get("response_url", "") if isinstance(payload, dict) else ""
        if isinstance(url, str) and url.startswith(("https://", "http://")):
            WebhookClient(url, timeout=10).send(text=NOT_DONE, response_type="ephemeral")
    except Exception:  # noqa: BLE001 - best effort: the log says it already
        log.exception("telling Slack that a request was not acted on failed")


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
        # Keys being handled in this process (None), or handled with an answer not yet
        # written: a duplicate of one is answered from here, before the log knows it.
        self._mine: dict[str, Answer | None] = {}
        self._lock = threading.Lock()

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
        with self._lock:
            mine = key in self._mine
            if mine:
                known = self._mine[key]
            else:
                self._mine[key] = None
        if mine:  # being handled here, or its answer not yet written
            log.info("Slack sent %s again: answered as the first time, not acted on", key)
            return known or Answer(200)
        try:
            seen = self._requests.answered(key, abandoned_before=now - ABANDONED_AFTER)
        except BaseException:
            self._forget(key)
            raise
        if seen is not None:
            self._forget(key)
            return self._duplicate(key, seen)
        claim = self._requests.claim_soon(key, now=now, abandoned_before=now - ABANDONED_AFTER)
        acts: list[Callable[[], None]] = []
        _handling.acts = acts
        try:
            answer = handle()
        except BaseException:
            self._settle(key, claim, acts, None)  # waits for the claim: an error is no hurry
            raise
        finally:
            _handling.acts = None
        if answer.status < 500 and not claim.done():  # the ack goes now; the work waits
            with self._lock:
                self._mine[key] = answer
            claim.add_done_callback(
                lambda _: self._settle_later(key, claim, acts, answer, body))
            return answer
        # A failure waits for the claim, so that Slack's retry finds it released.
        seen = self._settle(key, claim, acts, answer)
        return answer if seen is None else self._duplicate(key, seen)

    def _duplicate(self, key: str, seen: Seen) -> Answer:
        log.info("Slack sent %s again: answered as the first time, not acted on", key)
        if seen.status == 0:  # the first delivery is still being handled
            return Answer(200)
        return Answer(seen.status, seen.body, seen.content_type)

    def _settle(
        self, key: str, claim: Future[Any], acts: list[Callable[[], None]],
        answer: Answer | None,
    ) -> Seen | None:
        """Once the claim is decided: if won, do the request's work and remember its answer
        (or release the claim if it failed: Slack's retry may act); if lost, drop the work and
        return how the winner was answered. Raises the claim's error (nothing is done)."""
        try:
            seen: Seen | None = claim.result()
        except BaseException:
            self._forget(key)
            raise
        if seen is not None:  # another replica's delivery won the race
            self._forget(key)
            return seen
        for act in acts:
            act()
        if answer is None or answer.status >= 500:
            try:
                self._requests.release(key)
            finally:
                self._forget(key)
            return None
        with self._lock:
            self._mine[key] = answer
        written = self._requests.remember(key, status=answer.status, body=answer.body,
                                          content_type=answer.content_type)
        written.add_done_callback(lambda _: self._forget(key))
        return None

    def _settle_later(
        self, key: str, claim: Future[Any], acts: list[Callable[[], None]], answer: Answer,
        body: bytes,
    ) -> None:
        try:
            if self._settle(key, claim, acts, answer) is not None:
                log.info("Slack sent %s on another replica too: acked here, acted on there",
                         key)
        except Exception:  # the ack went and nothing was done: the person must know
            log.exception("claiming Slack request %s failed after its ack: not acted on", key)
            _tell_not_done(body)

    def _forget(self, key: str) -> None:
        with self._lock:
            self._mine.pop(key, None)

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
