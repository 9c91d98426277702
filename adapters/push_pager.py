"""The `push` paging channel: a notification on the person's phone through ntfy or Pushover.

A person's catalog entry says which: `ntfy_topic` (ntfy first when both are given) or
`pushover_user`. Both carry a way to acknowledge from the notification itself: an ntfy
"Acknowledge" action button that POSTs to a signed Firebell URL, and, for a P1, a Pushover
emergency notification (repeated every minute until acknowledged in the app) whose callback is
that URL. Without PUBLIC_URL and FIREBELL_CALLBACK_SECRET the pushes go out without it.

Errors become `ExternalServiceError`: retryable for 429, a 5xx or a failed connection, final
for any other 4xx (a wrong token, an unknown user key). A request that never reached the
service (refused connection, 429, 5xx) is tried again here a few times; one whose answer was
lost is not, since the push may have gone out. A failed push fails the page, and paging falls
over to the person's next channel at once (workflows/paging/delivery.py).
"""

from __future__ import annotations

import logging
import time
from base64 import b64encode
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

import httpx

from workflows.catalog.model import Person
from workflows.model import Incident, Page
from workflows.ports import ExternalServiceError, Message

log = logging.getLogger(__name__)

AckUrl = Callable[[Page], "str | None"]
# ntfy priorities: 5 "urgent" (long vibration, can bypass Do Not Disturb on Android) ... 1 "min".
NTFY_PRIORITY = {"P1": 5, "P2": 4, "P3": 3, "P4": 2}
# Tags that match an emoji short code are shown as that emoji before the title.
NTFY_TAGS = {"P1": "rotating_light", "P2": "warning"}
# Pushover emergency (priority 2) repeats every RETRY seconds until acknowledged or EXPIRE.
PUSHOVER_RETRY, PUSHOVER_EXPIRE = 60, 3600
# Pushover refuses a longer title or message.
PUSHOVER_TITLE_LIMIT, PUSHOVER_MESSAGE_LIMIT = 250, 1024


@dataclass(frozen=True)
class Tries:
    """How often a push that did not reach the service is tried again in place."""

    attempts: int = 3
    backoff: float = 0.5  # seconds before the second try, doubled each time


class PushPager:
    """`PagerPort` for the `push` channel, and `PageUpdates`: an acknowledged or resolved
    incident stops the Pushover emergency notifications still repeating for it."""

    channels: frozenset[str] = frozenset({"push"})

    def __init__(
        self,
        *,
        person_of: Callable[[str], Person],
        ack_url: AckUrl,
        channel_url: Callable[[str], str | None],
        ntfy_url: str = "https://ntfy.sh",
        ntfy_token: str | None = None,
        pushover_token: str | None = None,
        pushover_url: str = "https://api.pushover.net",
        tries: Tries = Tries(),
        timeout: float = 10.0,
    ) -> None:
        self.person_of = person_of
        self.ack_url = ack_url
        self.channel_url = channel_url
        auth = {"Authorization": f"Bearer {ntfy_token}"} if ntfy_token else {}
        self._ntfy = httpx.Client(base_url=ntfy_url.rstrip("/"), headers=auth, timeout=timeout)
        self._pushover_token = pushover_token
        self._pushover = httpx.Client(base_url=pushover_url.rstrip("/"), timeout=timeout)
        self._tries = tries

    # PagerPort -------------------------------------------------------------
    def send_page(self, *, page: Page, incident: Incident, message: Message) -> str:
        person = self.person_of(page.person)
        if person.ntfy_topic:
            return self._ntfy_publish(person.ntfy_topic, page=page, incident=incident,
                                      message=message)
        if person.pushover_user:
            if not self._pushover_token:
                raise ExternalServiceError(
                    f"Pushover is off (PUSHOVER_APP_TOKEN is unset): cannot push to {person.id}",
                    retryable=False)
            return self._pushover_send(person.pushover_user, page=page, incident=incident,
                                       message=message)
        raise ExternalServiceError(f"{person.id} has no ntfy_topic or pushover_user in the catalog",
                                   retryable=False)

    # PageUpdates -----------------------------------------------------------
    def acknowledged(self, pages: Iterable[Page], *, incident: Incident, text: str) -> None:
        """Cancel the retries of the incident's Pushover emergency pages (their receipts)."""
        if not self._pushover_token:
            return
        for page in pages:
            receipt = pushover_receipt(page)
            if receipt is None:
                continue
            try:
                self._send("Pushover", partial(
                    self._pushover.post, f"/1/receipts/{receipt}/cancel.json",
                    data={"token": self._pushover_token}))
            except ExternalServiceError as error:
                if error.retryable:
                    raise
                # Expired or cancelled already: nothing repeats any more.
                log.info("Pushover receipt %s of page %s not cancelled: %s", receipt, page.id,
                         error)

    # ntfy ------------------------------------------------------------------
    def _ntfy_publish(self, topic: str, *, page: Page, incident: Incident,
                      message: Message) -> str:
        headers = {
            "Title": _header(message.title or f"{incident.ref} {incident.title}"),
            "Priority": str(NTFY_PRIORITY.get(incident.priority, 3)),
            "Tags": ",".join(t for t in (NTFY_TAGS.get(incident.priority), "firebell",
                                         "drill" if incident.drill else None) if t),
        }
        click = self.channel_url(incident.channel) if incident.channel else None
        if click:
            headers["Click"] = click
        ack = self.ack_url(page)
        if ack:
            # An http action: the ntfy app POSTs to the URL when pressed, then clears the
            # notification. Commas and semicolons would end the URL: the signed URL has none.
            headers["Actions"] = f"http, Acknowledge, {ack}, method=POST, clear=true"
        answer = self._send("ntfy", lambda: self._ntfy.post(
            f"/{topic}", content=message.text.encode(), headers=headers))
        return f"ntfy:{answer.get('id', '')}"

    # Pushover --------------------------------------------------------------
    def _pushover_send(self, user: str, *, page: Page, incident: Incident,
                       message: Message) -> str:
        emergency = incident.priority == "P1" and not incident.drill
        form: dict[str, Any] = {
            "token": self._pushover_token, "user": user,
            "title": _cut(message.title or f"{incident.ref} {incident.title}", PUSHOVER_TITLE_LIMIT),
            "message": _cut(message.text, PUSHOVER_MESSAGE_LIMIT),
            # 2: emergency, repeated until acknowledged; 1: high, through quiet hours.
            "priority": 2 if emergency else 1,
        }
        if emergency:
            form.update(retry=PUSHOVER_RETRY, expire=PUSHOVER_EXPIRE)
            ack = self.ack_url(page)
            if ack:
                form["callback"] = ack  # Pushover POSTs there when it is acknowledged
        click = self.channel_url(incident.channel) if incident.channel else None
        if click:
            form.update(url=click, url_title="Open the incident channel")
        answer = self._send("Pushover", lambda: self._pushover.post("/1/messages.json",
                                                                     data=form))
        if answer.get("receipt"):
            return f"pushover:receipt:{answer['receipt']}"
        return f"pushover:request:{answer.get('request', '')}"

    # helpers ---------------------------------------------------------------
    def _send(self, service: str, request: Callable[[], httpx.Response]) -> dict[str, Any]:
        """The JSON answer of `request`, tried again while the service did not take it."""
        delay = self._tries.backoff
        for attempt in range(1, self._tries.attempts + 1):
            try:
                return _answer(service, request())
            except httpx.ConnectError as error:  # never reached it
                failure = f"{service} unreachable: {error!r}"
            except httpx.HTTPError as error:  # a timeout or a lost answer: it may be sent
                raise ExternalServiceError(f"{service} did not answer: {error!r}",
                                           retryable=True) from error
            except _NotTaken as error:
                failure = str(error)
            if attempt < self._tries.attempts:
                log.warning("%s attempt %d failed (%s); retrying in %.2fs", service, attempt,
                            failure, delay)
                time.sleep(delay)
                delay *= 2
        raise ExternalServiceError(failure, retryable=True)


class _NotTaken(Exception):
    """The service did not take the request (never reached it, 429, 5xx): safe to try again."""


def _answer(service: str, response: httpx.Response) -> dict[str, Any]:
    status = response.status_code
    if status == 429 or status >= 500:
        raise _NotTaken(f"{service} answered {status}: {response.text[:300]}")
    if status >= 400:
        raise ExternalServiceError(f"{service} refused the push ({status}): "
                                   f"{_reason(response)}", retryable=False)
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _reason(response: httpx.Response) -> str:
    """ntfy's `error`, Pushover's `errors`, else the body's start."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(body, dict):
        if isinstance(body.get("errors"), list):
            return "; ".join(str(e) for e in body["errors"])
        if body.get("error"):
            return str(body["error"])
    return response.text[:300]


def pushover_receipt(page: Page) -> str | None:
    """The receipt of a Pushover emergency page, from its reference."""
    prefix = "pushover:receipt:"
    if page.channel == "push" and page.ref and page.ref.startswith(prefix):
        return page.ref.removeprefix(prefix)
    return None


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 3].rstrip() + "..."


def _header(text: str) -> str:
    """A header value: ASCII as it is, else RFC 2047 encoded (which ntfy decodes)."""
    text = " ".join(text.split())
    if text.isascii():
        return text
    return f"=?UTF-8?B?{b64encode(text.encode()).decode()}?="
