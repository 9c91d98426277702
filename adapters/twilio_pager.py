"""The pager port over Twilio: a page by SMS (a Message) or by phone (a Call that asks to press 1).

Twilio's errors are translated here: throttling (429) and server errors (5xx) and lost
connections are retried with exponential backoff and then reported as retryable; any other
4xx (an invalid number, 21211) is final at once. Every page carries its own status callback
URL, so a failed or undelivered page fails over to the person's next channel immediately.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import requests
from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from twilio.twiml.voice_response import VoiceResponse

from workflows.model import Incident, Page
from workflows.ports import ExternalServiceError, Message

log = logging.getLogger(__name__)

PhoneOf = Callable[[str], "str | None"]
# How far the provider's clock may be off ours when we look for a page after a crash, and how
# long a send can take with its retries: a call for a page was created within that window.
CLOCK_SKEW = timedelta(seconds=2)
SEND_WINDOW = timedelta(seconds=20)
# After a lost answer: how long past the client's timeout Twilio may still be finishing the request.
LOST_ANSWER_GRACE = 2.0
_SHORT_CODE = re.compile(r":[a-z0-9_+-]+:")
# Twilio refuses a longer SMS body (error 21617); a call reads this much at most (about 40 s);
# a title longer than TITLE_LIMIT is cut, so that the incident's number and what to press stay.
SMS_LIMIT, SPOKEN_LIMIT, TITLE_LIMIT = 1600, 600, 200


def _retryable(error: BaseException) -> bool:
    if isinstance(error, TwilioRestException):
        return error.status == 429 or error.status >= 500
    return isinstance(error, requests.RequestException)  # connection refused, reset, timeout


def page_marker(page: Page) -> str:
    """Ends every SMS page: tells a person which page it is, and finds it again after a crash."""
    return f"[page {page.id}]"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 3].rstrip() + "..."


def _words(message: Message, *, title: str) -> str:
    """The page's words without Slack's short codes and bold marks, a long title cut short."""
    text = message.text
    if len(title) > TITLE_LIMIT:
        text = text.replace(title, _cut(title, TITLE_LIMIT))
    return _SHORT_CODE.sub("", text).replace("*", "").strip()


def sms_body(page: Page, message: Message, *, title: str = "") -> str:
    """The page's words (which start with the incident's number), cut to fit Twilio's limit
    before the acknowledgement instruction and the marker, which always stay."""
    ending = f"\nReply 1 to acknowledge. {page_marker(page)}"
    return _cut(_words(message, title=title), SMS_LIMIT - len(ending)) + ending


def voice_twiml(page: Page, message: Message, *, action: str, title: str = "") -> str:
    """Read the page, twice if need be, and take one key: 1 acknowledges."""
    text = _cut(" ".join(_words(message, title=title).split()), SPOKEN_LIMIT)
    response = VoiceResponse()
    gather = response.gather(num_digits=1, action=action, method="POST", timeout=8)
    gather.say(f"This is Firebell. {text} Press 1 to acknowledge.")
    gather.pause(length=1)
    gather.say("Press 1 to acknowledge.")
    response.say("No key was pressed. Firebell will keep escalating. Goodbye.")
    return str(response)


class TwilioPager:
    """`PagerPort` for the `sms` and `voice` channels, and `PageLookup` for crash recovery."""

    channels: frozenset[str] = frozenset({"sms", "voice"})

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        from_number: str,
        public_url: str,
        phone_of: PhoneOf,
        api_url: str = "https://api.twilio.com",
        attempts: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        timeout: float = 10.0,
    ) -> None:
        self.from_number = from_number
        self.public_url = public_url.rstrip("/")
        self.phone_of = phone_of
        self.client = Client(account_sid, auth_token,
                             http_client=TwilioHttpClient(timeout=timeout))
        # The library builds every URL from its domain's base_url: point it at TWILIO_API_URL.
        self.client.api.base_url = api_url.rstrip("/")
        self._attempts, self._backoff, self._max_backoff = attempts, backoff, max_backoff
        self._timeout = timeout

    # PagerPort -------------------------------------------------------------
    def send_page(self, *, page: Page, incident: Incident, message: Message) -> str:
        to = self._phone(page)
        callback = self._url("/twilio/status", page=page.id, incident=page.incident_id)
        if page.channel == "sms":
            body = sms_body(page, message, title=incident.title)
            started, attempts = datetime.now(UTC), 0
            lost_at: float | None = None  # when the request whose answer was lost began

            def create() -> Any:
                nonlocal attempts, lost_at
                attempts += 1
                if attempts > 1:
                    if lost_at is not None:
                        # A request whose answer was lost may still be working at Twilio: it
                        # lists the message only once that request is done (up to the timeout
                        # after it began). Look after that, or the look finds nothing yet.
                        time.sleep(max(0.0, lost_at + self._timeout + LOST_ANSWER_GRACE
                                       - time.monotonic()))
                    # A 5xx or a lost answer may come after Twilio took the message: look for
                    # it (the body names the page) before sending it a second time.
                    already = self._sms_bearing(to, page_marker(page), after=started)
                    if already:
                        return already[0]
                began = time.monotonic()
                try:
                    return self.client.messages.create(
                        to=to, from_=self.from_number, body=body, status_callback=callback)
                except requests.RequestException:
                    lost_at = began
                    raise

            sent = self._call(create)
        elif page.channel == "voice":
            action = self._url("/twilio/voice", page=page.id, incident=page.incident_id,
                               person=page.person)
            twiml = voice_twiml(page, message, action=action, title=incident.title)
            # Twilio calls back at once ("initiated") with the URL that names the page: the
            # marker it keeps for us, so a call whose answer was lost is still known to be made.
            sent = self._call(lambda: self.client.calls.create(
                to=to, from_=self.from_number, twiml=twiml, status_callback=callback,
                status_callback_event=["initiated", "ringing", "answered", "completed"]))
        else:
            raise ExternalServiceError(f"Twilio cannot page by {page.channel}", retryable=False)
        return str(sent.sid)

    # PageLookup ------------------------------------------------------------
    def shared(self, page: Page, other: Page) -> bool:
        # An SMS body names its page; a call carries nothing of ours.
        return page.channel == other.channel == "voice" and page.person == other.person

    def find_sent(self, *, page: Page, since: datetime) -> list[str]:
        """SIDs of what Twilio accepted that may be this page: messages bearing its marker, or
        calls from our number to the person since `since` (newest last)."""
        to = self._phone(page)
        after, before = since - CLOCK_SKEW, since + SEND_WINDOW
        if page.channel == "sms":
            # Exact: the body names the page.
            hits = self._call(lambda: self._sms_bearing(to, page_marker(page), after=after))
        else:
            # A call carries nothing of ours that Twilio lists back: the call to this person
            # created first after the claim is the best guess. The caller skips SIDs that other
            # pages hold already.
            found = self._call(lambda: self.client.calls.list(
                to=to, from_=self.from_number, start_time_after=after, limit=200))
            hits = [c for c in found if after <= (_created(c) or since) <= before]
        # Twilio lists newest first; oldest first, ties kept in Twilio's order of creation.
        oldest_first = list(reversed(hits))
        return [str(i.sid) for i in sorted(oldest_first, key=lambda i: _created(i) or since)]

    # helpers ---------------------------------------------------------------
    def _sms_bearing(self, to: str, marker: str, *, after: datetime) -> list[Any]:
        found = self.client.messages.list(
            to=to, from_=self.from_number, date_sent_after=after - SEND_WINDOW, limit=200)
        return [m for m in found if marker in (m.body or "")]

    def _phone(self, page: Page) -> str:
        phone = self.phone_of(page.person)
        if not phone:
            raise ExternalServiceError(f"{page.person} has no phone number", retryable=False)
        return phone

    def _url(self, path: str, **query: object) -> str:
        return f"{self.public_url}{path}?{urlencode(query)}"

    def _call(self, request: Callable[[], Any]) -> Any:
        retrying = Retrying(
            retry=retry_if_exception(_retryable),
            stop=stop_after_attempt(self._attempts),
            wait=wait_exponential(multiplier=self._backoff, max=self._max_backoff),
            reraise=True,
            before_sleep=lambda state: log.warning(
                "Twilio attempt %d failed (%s); retrying", state.attempt_number,
                state.outcome.exception() if state.outcome else None),
        )
        try:
            return retrying(request)
        except TwilioRestException as error:
            detail = f"Twilio {error.status}" + (f" error {error.code}" if error.code else "")
            raise ExternalServiceError(f"{detail}: {error.msg}",
                                       retryable=_retryable(error)) from error
        except requests.RequestException as error:
            raise ExternalServiceError(f"Twilio unreachable: {error}", retryable=True) from error


def _created(item: Any) -> datetime | None:
    value = getattr(item, "date_created", None)
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return None
