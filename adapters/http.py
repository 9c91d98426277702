"""Vendors over HTTP: calling their JSON APIs (httpx errors become Firebell's own, transient ones
retried a few times) and checking the signatures of their webhooks."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential,
)

from workflows.ports import ExternalServiceError

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How a vendor call is retried in place before the failure goes back to the outbox.

    Bounded so one effect (all its attempts, each up to the client's timeout) ends well within
    its 90 s lease: `attempts` tries, exponential waits from `backoff` up to `max_wait` seconds,
    and no new try once `budget` seconds have passed. A Retry-After longer than `max_wait` is not
    slept through here: the error goes back (retryable) and the outbox tries again later.
    """

    attempts: int = 4
    backoff: float = 0.5
    max_wait: float = 10.0
    budget: float = 30.0


class VendorError(ExternalServiceError):
    """An `ExternalServiceError` from an HTTP answer; `retry_after` as the vendor asked (seconds)."""

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message, retryable=retryable)
        self.retry_after = retry_after


def _never(response: httpx.Response) -> bool:
    return False


def request_json(
    client: httpx.Client,
    method: str,
    path: str,
    *,
    service: str,
    json: Any = None,
    params: dict[str, Any] | None = None,
    rate_limited: Callable[[httpx.Response], bool] = _never,
    retry: RetryPolicy | None = None,
) -> Any:
    """One request to `service` ("GitHub", "Jira"); its JSON answer, {} when the body is empty.

    Every httpx error becomes an `ExternalServiceError` raised from it: retryable for 429, a 5xx,
    a failed connection or a timeout, and an error answer that `rate_limited` says is a rate
    limit; never for another 4xx. With `retry`, retryable failures are tried again first (only
    for requests that are safe to repeat: a create is retried by its caller, who looks first).
    """

    def once() -> Any:
        try:
            response = client.request(method, path, json=json, params=params)
            response.raise_for_status()
        except httpx.HTTPStatusError as error:
            answer = error.response
            limited = answer.status_code == 429 or rate_limited(answer)
            raise VendorError(
                f"{service} {method} {path} answered {answer.status_code}: {answer.text[:300]}",
                retryable=limited or answer.status_code >= 500,
                retry_after=_retry_after(answer),
            ) from error
        except httpx.HTTPError as error:
            raise VendorError(f"{service} {method} {path} failed: {error!r}",
                              retryable=True) from error
        return response.json() if response.content else {}

    return once() if retry is None else retrying(retry, once, what=f"{service} {method} {path}")


def retrying(policy: RetryPolicy, call: Callable[[], T], *, what: str) -> T:
    """`call()`, tried again on a retryable `ExternalServiceError` as `policy` allows; the last
    error is raised as it was (still retryable: the outbox tries again later)."""
    backoff = wait_exponential(multiplier=policy.backoff, max=policy.max_wait)

    def transient(error: BaseException) -> bool:
        if not (isinstance(error, ExternalServiceError) and error.retryable):
            return False
        after = getattr(error, "retry_after", None)
        return after is None or after <= policy.max_wait

    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        after = getattr(error, "retry_after", None)
        return float(after) if after is not None else float(backoff(state))

    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        log.warning("%s: attempt %d failed (%s); retrying in %.1fs", what, state.attempt_number,
                    error, state.upcoming_sleep)

    attempts = Retrying(
        retry=retry_if_exception(transient), wait=wait, reraise=True,
        stop=stop_after_attempt(policy.attempts) | stop_after_delay(policy.budget),
        before_sleep=before_sleep,
    )
    return attempts(call)


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), else from a 429's
    `ratelimit-reset` (seconds until the limit resets: PagerDuty sends only that); None without."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        reset = response.headers.get("ratelimit-reset", "").strip()
        return float(reset) if response.status_code == 429 and reset.isdigit() else None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def signature_matches(*, secret: str, body: bytes, given: str) -> bool:
    """Whether `given` is "sha256=<hex HMAC-SHA256 of body>", as GitHub and Jira sign webhooks."""
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(given.encode(), expected.encode())
