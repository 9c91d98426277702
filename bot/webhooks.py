"""HTTP intake: Alertmanager and Grafana webhooks, PagerDuty Events API v2, Jira and GitHub
webhooks, and the noise report.

Handlers only translate: authenticate (bearer token, compared in constant time; PagerDuty
senders may put it in `routing_key` instead), hold floods off (a token bucket per token: 429),
refuse big bodies without reading them (413) and malformed ones with the reason (400), then call
one workflow. A signal is stored before the reply, so "accepted" means kept.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.alert_payloads import alertmanager_signals, pagerduty_signal
from bot.http_guard import webhook_route
from workflows.intake.intake import intake
from workflows.intake.noise import noise_report
from workflows.intake.signals import Signal
from workflows.intake.ticket_changes import apply_ticket_change
from workflows.observe import Meter
from workflows.ports import (
    ExternalServiceError,
    FirebellError,
    InvalidRequest,
    SignatureError,
    TicketWebhooks,
)
from workflows.times import parse_time

if TYPE_CHECKING:
    from bot.host import Host

log = logging.getLogger(__name__)
MAX_BODY = 256 * 1024


class _TooLarge(Exception):
    pass


class TokenBucket:
    """`rate` requests a second on average, `burst` at once."""

    def __init__(self, *, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, float(burst)
        self.tokens, self.stamp = float(burst), time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> float:
        """0 when allowed; otherwise the seconds until a request would be."""
        with self._lock:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= 1:
                self.tokens -= 1
                return 0.0
            return (1 - self.tokens) / self.rate


def _match(value: str, tokens: list[tuple[str, str]]) -> str | None:
    """The integration whose token this is. Every token is compared, in constant time."""
    found = None
    for name, token in tokens:
        if hmac.compare_digest(value.encode(), token.encode()):
            found = name
    return found


def _bearer(request: Request, tokens: list[tuple[str, str]]) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return _match(value.strip(), tokens) if scheme.lower() == "bearer" and value else None


async def _read(request: Request) -> bytes:
    """The body, up to MAX_BODY; beyond that `_TooLarge`, without reading the rest."""
    length = request.headers.get("content-length", "")
    if length.isascii() and length.isdigit() and int(length) > MAX_BODY:
        raise _TooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _json(body: bytes) -> Any:
    if b"\\u0000" in body:  # PostgreSQL text cannot hold NUL: refuse it here, not half-way
        raise InvalidRequest("strings must not contain NUL characters (\\u0000)")
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
        raise InvalidRequest(f"the body is not JSON: {str(error)[:200]}") from None


def _error(status: int, message: str, *, pagerduty: bool = False, **extra: Any) -> JSONResponse:
    if pagerduty and status == 400:
        body = {"status": "invalid event", "message": "Event object is invalid", "errors": [message]}
    elif pagerduty and status == 429:
        body = {"status": "throttle event", "message": message}
    else:
        body = {"status": "error", "message": message}
    return JSONResponse(body, status_code=status, headers=extra.get("headers"))


def webhook_routes(firebell: Host) -> list[BaseRoute]:
    ctx = firebell.ctx
    settings = ctx.catalog.intake
    tokens = [(i.name, i.token) for i in settings.integrations]
    if firebell.settings.firebell_webhook_token:
        tokens.insert(0, ("default", firebell.settings.firebell_webhook_token))
    buckets = {name: TokenBucket(rate=settings.rate_limit.per_second, burst=settings.rate_limit.burst)
               for name, _ in tokens}

    async def _signals(request: Request, *, pagerduty: bool) -> Response:
        if not tokens:
            return _error(404, "alert webhooks are off: set FIREBELL_WEBHOOK_TOKEN")
        who = _bearer(request, tokens)
        if who is None and not pagerduty:
            return _error(401, "a valid `Authorization: Bearer <token>` is required",
                          headers={"WWW-Authenticate": "Bearer"})
        if who is not None and (wait := buckets[who].take()):
            return _error(429, "too many requests: slow down", pagerduty=pagerduty,
                          headers={"Retry-After": str(max(1, round(wait)))})
        try:
            data = _json(await _read(request))
            if who is None:  # PagerDuty senders authenticate with the body's routing key
                key = data.get("routing_key") if isinstance(data, dict) else None
                who = _match(key, tokens) if isinstance(key, str) and key else None
                if who is None:
                    return _error(401, "a valid bearer token or `routing_key` is required")
                if wait := buckets[who].take():
                    return _error(429, "too many requests: slow down", pagerduty=True,
                                  headers={"Retry-After": str(max(1, round(wait)))})
            signals: list[Signal] = (
                [pagerduty_signal(data, integration=who)] if pagerduty
                else alertmanager_signals(data, integration=who)
            )
        except _TooLarge:
            return _error(413, f"the body is larger than {MAX_BODY // 1024} KiB")
        except InvalidRequest as error:
            return _error(400, str(error), pagerduty=pagerduty)
        try:
            outcomes = await run_in_threadpool(intake, ctx, signals)
        except Exception:  # not stored: the sender must try again, and the log says why
            log.exception("storing %d signal(s) from %s failed", len(signals), who)
            return _error(503, "the signal could not be stored; try again",
                          headers={"Retry-After": "5"})
        if pagerduty:
            return JSONResponse({"status": "success", "message": "Event processed",
                                 "dedup_key": signals[0].dedup_key}, status_code=202)
        incidents = sorted({o.incident_id for o in outcomes if o.incident_id is not None})
        return JSONResponse({"status": "success", "alerts": len(outcomes), "incidents": incidents,
                             "unrouted": sum(1 for o in outcomes if not o.routed)})

    async def alertmanager(request: Request) -> Response:
        return await _signals(request, pagerduty=False)

    async def enqueue(request: Request) -> Response:
        return await _signals(request, pagerduty=True)

    async def _ticket_webhook(request: Request, system: str) -> Response:
        tracker = ctx.tickets
        if not isinstance(tracker, TicketWebhooks) or tracker.system != system:
            return _error(404, f"{system} tickets are off")
        try:
            body = await _read(request)
            headers = {k.lower(): v for k, v in request.headers.items()}
            try:
                change = await run_in_threadpool(
                    lambda: tracker.read_webhook(headers=headers, body=body))
            except ValueError as error:  # signed, but not JSON
                raise InvalidRequest(str(error)) from error
            except (TypeError, AttributeError, KeyError, IndexError) as error:
                # Signed, but a field has the wrong type (a string where an object belongs).
                raise InvalidRequest(f"a field has the wrong type ({error})") from error
            if change is None:
                return JSONResponse({"status": "ignored"})
            result = await run_in_threadpool(apply_ticket_change, ctx, change)
        except _TooLarge:
            return _error(413, f"the body is larger than {MAX_BODY // 1024} KiB")
        except SignatureError as error:
            return _error(401, str(error))
        except InvalidRequest as error:
            return _error(400, f"cannot read the webhook: {str(error)[:200]}")
        except ExternalServiceError as error:
            return _error(503 if error.retryable else 502, str(error))
        return JSONResponse({"status": result})

    async def jira(request: Request) -> Response:
        return await _ticket_webhook(request, "jira")

    async def github(request: Request) -> Response:
        return await _ticket_webhook(request, "github")

    async def noise(request: Request) -> Response:
        try:
            zone = ctx.catalog.timezone
            since, until = (parse_time(t, zone=zone) if (t := request.query_params.get(k)) else None
                            for k in ("since", "until"))
            rows = await run_in_threadpool(lambda: noise_report(ctx, since=since, until=until))
        except FirebellError as error:
            return _error(400, str(error))
        return JSONResponse({"rules": [
            {"rule": r.rule, "service": r.service, "signals": r.signals, "alerts": r.alerts,
             "acknowledged": r.acknowledged, "auto_resolved": r.auto_resolved,
             "flapping": r.flapping}
            for r in rows
        ]})

    def meter() -> Meter:
        return ctx.meter

    return [  # every answer of a webhook counted (webhook_requests_total)
        webhook_route("/webhooks/alertmanager", alertmanager, meter),
        webhook_route("/v2/enqueue", enqueue, meter),
        webhook_route("/webhooks/jira", jira, meter),
        webhook_route("/webhooks/github", github, meter),
        Route("/api/v1/reports/noise", noise, methods=["GET"]),
    ]
