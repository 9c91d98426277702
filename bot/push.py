"""Acknowledging from a push notification: `POST /push/ack/{token}`.

The ntfy app calls it when the person presses the page's "Acknowledge" action button; Pushover
calls it (its `callback`, a form with `receipt`, `acknowledged_by` ...) when an emergency page is
acknowledged in its app. Neither can sign a request, so the URL is the credential: the token names
the page, its incident and the person, carries an expiry, and is signed with HMAC-SHA256 under
FIREBELL_CALLBACK_SECRET (compared in constant time). A bad, forged or expired token is refused
with 403 and changes nothing; the link also dies with the incident (once it is acknowledged or
resolved, pressing it acknowledges nothing more).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute

from bot.http_guard import webhook_route
from workflows.incident.respond import acknowledge_by_page
from workflows.model import Page
from workflows.ports import FirebellError

if TYPE_CHECKING:
    from bot.host import Host

log = logging.getLogger(__name__)

# How long after a page its Acknowledge link works at most (the incident may end it sooner).
ACK_LINK_LIFE = timedelta(hours=24)
_PURPOSE = b"firebell push ack\n"  # this secret may sign other things one day: never confusable


@dataclass(frozen=True)
class AckClaim:
    """What a valid token says: this person may acknowledge this page's incident until then."""

    page: int
    incident_id: int
    person: str
    expires: datetime


def ack_token(secret: str, *, page: int, incident_id: int, person: str, expires: datetime) -> str:
    """`<payload>.<signature>`, both base64url: URL-safe, with no comma or semicolon (which
    would end the URL in an ntfy action header)."""
    payload = _b64(f"{page}:{incident_id}:{person}:{int(expires.timestamp())}".encode())
    return f"{payload}.{_b64(_mac(secret, payload))}"


def read_ack_token(secret: str, token: str, *, now: datetime) -> AckClaim | None:
    """The claim of a token signed with `secret` and not expired at `now`; None otherwise."""
    payload, _, signature = token.partition(".")
    if not hmac.compare_digest(signature.encode(), _b64(_mac(secret, payload)).encode()):
        return None
    try:
        page, incident_id, person, expires = (
            base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode().split(":"))
        claim = AckClaim(int(page), int(incident_id), person,
                         datetime.fromtimestamp(int(expires), UTC))
    except ValueError:  # signed by us, so never; but never a 500 either
        return None
    return claim if now < claim.expires else None


def ack_url(page: Page, *, public_url: str, secret: str) -> str:
    """The signed URL that acknowledges `page`'s incident for its person."""
    assert page.id is not None
    token = ack_token(secret, page=page.id, incident_id=page.incident_id, person=page.person,
                      expires=page.created_at + ACK_LINK_LIFE)
    return f"{public_url.rstrip('/')}/push/ack/{token}"


def push_routes(firebell: Host) -> list[BaseRoute]:
    secret = firebell.settings.firebell_callback_secret

    async def acknowledge(request: Request) -> Response:
        if not secret:
            return PlainTextResponse("push acknowledgements are off: set FIREBELL_CALLBACK_SECRET",
                                     status_code=404)
        claim = read_ack_token(secret, request.path_params["token"], now=firebell.ctx.now())
        if claim is None:
            return PlainTextResponse("invalid or expired acknowledgement link", status_code=403)
        # Pushover says who pressed it (a user key) and where; the token says for whom it was.
        if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            form = dict(parse_qsl((await request.body()).decode(errors="replace")))
            log.info("Pushover callback for page %d: receipt %s acknowledged by %s on %s",
                     claim.page, form.get("receipt"), form.get("acknowledged_by"),
                     form.get("acknowledged_by_device"))
        try:
            # By the page the link names: its channel is known (a test page marks that one).
            incident = await run_in_threadpool(
                acknowledge_by_page, firebell.ctx, page_id=claim.page, person=claim.person)
        except FirebellError as error:  # acknowledged or resolved already, by someone else
            return PlainTextResponse(f"Not acknowledged: {error}", status_code=409)
        return PlainTextResponse(f"Acknowledged {incident.ref}: {incident.title}. "
                                 "Escalation stopped.")

    return [webhook_route("/push/ack/{token}", acknowledge, lambda: firebell.ctx.meter)]


def _mac(secret: str, payload: str) -> bytes:
    return hmac.new(secret.encode(), _PURPOSE + payload.encode(), hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
