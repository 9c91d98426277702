"""What every HTTP request meets before a route reads it: a size cap and a deadline on its body.

No request Firebell serves is big: Slack's payloads and Twilio's callbacks are a few KiB and the
alert webhooks stop at 256 KiB (bot/webhooks.py). A body past MAX_BODY is refused with 413,
from its Content-Length before a byte is read, or as soon as the bytes streamed in pass the cap;
a body still arriving BODY_SECONDS after the request began is refused with 408. A client that
goes away mid-body ends its request quietly: there is nobody left to answer, and nothing of
Firebell's failed.

The webhook endpoints' answers are counted here too (`webhook_route`, and the guard's own refusals):
`webhook_requests_total{endpoint, outcome}` on the meter, outcome `accepted` or the status.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import anyio
from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from workflows.observe import Meter, NoMeter

MAX_BODY = 1024 * 1024
BODY_SECONDS = 10.0
# Times the API takes ("?at=", "?since="): anything outside is a typo, and the calendar
# arithmetic near year 1 or 9999 overflows.
_LENGTH = re.compile(r"[0-9]{1,18}")
# The webhook endpoints whose answers are counted, by path: a fixed set, so that no caller can
# make up label values.
WEBHOOK_ENDPOINTS = {
    "/webhooks/alertmanager": "alertmanager", "/v2/enqueue": "pagerduty",
    "/webhooks/jira": "jira", "/webhooks/github": "github", "/slack/events": "slack",
    "/api/messages": "teams", "/twilio/sms": "twilio_sms", "/twilio/voice": "twilio_voice",
    "/twilio/status": "twilio_status", "/telegram/webhook": "telegram",
}
# Paths with a variable part, counted under one name each (the part is never a label).
WEBHOOK_PREFIXES = {"/push/ack/": "push"}


def webhook_endpoint(path: str) -> str | None:
    """The counted endpoint a request path belongs to, or None."""
    if (endpoint := WEBHOOK_ENDPOINTS.get(path)) is not None:
        return endpoint
    return next((name for prefix, name in WEBHOOK_PREFIXES.items() if path.startswith(prefix)),
                None)


def count_answer(meter: Meter, *, endpoint: str, status: int) -> None:
    """One webhook request answered: `accepted` (2xx) or refused with `status`."""
    outcome = "accepted" if 200 <= status < 300 else str(status)
    meter.count("webhook_requests_total", endpoint=endpoint, outcome=outcome)


def webhook_route(
    path: str, handler: Callable[[Request], Awaitable[Response]], meter: Callable[[], Meter]
) -> Route:
    """A POST route for `path`, each of its answers counted on `meter()` under the endpoint
    WEBHOOK_ENDPOINTS (or WEBHOOK_PREFIXES) names for it: the one place a path gets its name, so
    the guard's own refusals and the route's answers are counted alike."""
    endpoint = webhook_endpoint(path)
    if endpoint is None:
        raise ValueError(f"{path} is not a counted webhook: add it to WEBHOOK_ENDPOINTS")

    async def answer(request: Request) -> Response:
        response = await handler(request)
        count_answer(meter(), endpoint=endpoint, status=response.status_code)
        return response

    return Route(path, answer, methods=["POST"])


class _TooLarge(Exception):
    pass


class _TooSlow(Exception):
    pass


class BodyGuard:
    """ASGI middleware: 413 past `max_body` bytes, 408 past `seconds`, quiet on disconnects."""

    def __init__(self, app: ASGIApp, *, max_body: int = MAX_BODY,
                 seconds: float = BODY_SECONDS, meter: Meter | None = None) -> None:
        self.app, self.max_body, self.seconds = app, max_body, seconds
        self.meter = meter or NoMeter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length")
        if length is not None and (not _LENGTH.fullmatch(length) or int(length) > self.max_body):
            await self._refuse(413, scope, receive, send)
            return
        deadline = anyio.current_time() + self.seconds
        received, complete, answered = 0, False, False

        async def capped_receive() -> Message:
            nonlocal received, complete
            if complete:  # the body is in: what follows is waiting for a disconnect
                return await receive()
            with anyio.move_on_after(max(0.0, deadline - anyio.current_time())):
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > self.max_body:
                        raise _TooLarge
                    complete = not message.get("more_body", False)
                else:
                    complete = True
                return message
            raise _TooSlow

        async def watched_send(message: Message) -> None:
            nonlocal answered
            answered = answered or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, capped_receive, watched_send)
        except ClientDisconnect:
            return
        except (_TooLarge, _TooSlow) as error:
            if not answered:
                await self._refuse(413 if isinstance(error, _TooLarge) else 408, scope, receive, send)

    async def _refuse(self, status: int, scope: Scope, receive: Receive, send: Send) -> None:
        text = (f"the body is larger than {self.max_body // 1024} KiB" if status == 413
                else f"the body did not arrive within {self.seconds:g} s")
        # Connection: close, so the rest of the body is not read as the next request.
        response = PlainTextResponse(text, status_code=status, headers={"Connection": "close"})
        await response(scope, receive, send)
        if (endpoint := webhook_endpoint(scope.get("path", ""))) is not None:
            count_answer(self.meter, endpoint=endpoint, status=status)
