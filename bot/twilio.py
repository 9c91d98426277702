"""Twilio's side of `firebell serve`: SMS replies and key presses that acknowledge, delivery
reports, and the vCard of the numbers Firebell pages from.

Every POST must carry a valid `X-Twilio-Signature` (HMAC-SHA1 with the auth token over the public
URL Twilio requested plus the form fields); anything else is refused with 403 before it is read.

An acknowledgement always gets an answer the person hears: when the database fails, or has not
answered within ACK_WAIT_SECONDS (Twilio hangs up on a webhook after 15 s, and a locked SQLite
waits 30 s), the answer says the acknowledgement may not have been recorded and to try again.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

from bot.bounded import answer_in_time
from bot.http_guard import webhook_route
from bot.incident_ids import database_id
from workflows.catalog.model import Catalog, Person
from workflows.incident.respond import acknowledge_page
from workflows.observe import Meter
from workflows.paging.delivery import record_delivery
from workflows.ports import FirebellError

if TYPE_CHECKING:
    from bot.host import Host

log = logging.getLogger(__name__)

TWIML = "application/xml"
# "1", "ack", "yes", "ok", optionally followed by an incident number: "ack 42", "1 #42".
_ACK = re.compile(r"^\s*(?:1|ack(?:nowledge)?|yes|y|ok)\b\s*#?([0-9]+)?\s*[.!]*\s*$", re.IGNORECASE)
# A status callback can overtake the answer to our own request: wait this long for the page's ref.
REF_WAIT_SECONDS = 3.0
# How long an acknowledgement may take before Twilio is answered that it may not be recorded:
# well inside Twilio's 15 s, so that the person hears it.
NOT_RECORDED = ("Your acknowledgement may not have been recorded: Firebell's database is not "
                "answering. Reply 1 again, or acknowledge in chat.")


@dataclass(frozen=True)
class SmsReply:
    sender: str
    body: str


@dataclass(frozen=True)
class KeyPress:
    person: str
    incident_id: int
    digits: str
    action: str  # the URL to gather the next key press at


@dataclass(frozen=True)
class DeliveryReport:
    ref: str
    status: str
    error: str | None


def paging_numbers(from_number: str | None, extra: str | None) -> list[str]:
    """Every number Firebell calls and texts from: TWILIO_FROM_NUMBER, TWILIO_EXTRA_NUMBERS."""
    numbers = [from_number or "", *(extra or "").split(",")]
    seen: list[str] = []
    for number in (re.sub(r"[ ()-]", "", n) for n in numbers):
        if number and number not in seen:
            seen.append(number)
    return seen


def vcard(numbers: list[str], *, url: str | None = None) -> str:
    """A vCard 3.0 named "Firebell paging" holding every paging number, to import and allowlist."""
    lines = ["BEGIN:VCARD", "VERSION:3.0", "N:paging;Firebell;;;", "FN:Firebell paging",
             "ORG:Firebell"]
    lines += [f"TEL;TYPE=WORK,VOICE,MSG:{number}" for number in numbers]
    if url:
        lines.append(f"URL:{url}")
    lines += ["NOTE:Incident pages. Let this contact ring through Do Not Disturb and silencing.",
              "END:VCARD"]
    return "\r\n".join(lines) + "\r\n"


def person_by_phone(catalog: Catalog, phone: str) -> Person | None:
    number = re.sub(r"[ ()-]", "", phone)
    return next((p for p in catalog.people if p.phone == number), None)


def twilio_routes(firebell: Host) -> list[BaseRoute]:
    settings = firebell.settings
    ctx = firebell.ctx
    numbers = paging_numbers(settings.twilio_from_number, settings.twilio_extra_numbers)

    def configured() -> str | None:
        if not (settings.twilio_auth_token and settings.public_url):
            return "Twilio is off: set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and PUBLIC_URL"
        return None

    async def signed(request: Request) -> dict[str, str] | Response:
        """The form fields of a request Twilio signed, or the response that refuses it."""
        off = configured()
        if off:
            return PlainTextResponse(off, status_code=404)
        given = request.headers.get("x-twilio-signature", "")
        if not given:  # refused before the body is read
            return PlainTextResponse("invalid Twilio signature", status_code=403)
        try:
            text = (await request.body()).decode()
        except UnicodeDecodeError:  # Twilio sends UTF-8
            return PlainTextResponse("the body is not UTF-8", status_code=400)
        # Twilio posts application/x-www-form-urlencoded; blank fields are signed too.
        form = dict(parse_qsl(text, keep_blank_values=True))
        # Twilio signs the URL it was given, i.e. the public one, not the one we are reached at.
        url = f"{(settings.public_url or '').rstrip('/')}{request.url.path}"
        if request.url.query:
            url += f"?{request.url.query}"
        validator = RequestValidator(settings.twilio_auth_token or "")
        if not validator.validate(url, form, given):
            return PlainTextResponse("invalid Twilio signature", status_code=403)
        return form

    async def sms(request: Request) -> Response:
        form = await signed(request)
        if isinstance(form, Response):
            return form
        reply = SmsReply(sender=form.get("From", ""), body=form.get("Body", ""))
        text = await _bounded(lambda: _answer_sms(firebell, reply), unrecorded=NOT_RECORDED,
                              what=f"SMS acknowledgement from {reply.sender}")
        answer = MessagingResponse()
        answer.message(text)
        return Response(str(answer), media_type=TWIML)

    async def voice(request: Request) -> Response:
        form = await signed(request)
        if isinstance(form, Response):
            return form
        query = request.query_params
        incident_id = database_id(query.get("incident", ""))
        if incident_id is None or not query.get("person"):
            return PlainTextResponse("expected ?incident=<id>&person=<id>", status_code=400)
        press = KeyPress(
            person=query["person"], incident_id=incident_id,
            digits=form.get("Digits", ""),
            action=f"{(settings.public_url or '').rstrip('/')}/twilio/voice?"
                   + urlencode(dict(query.multi_items())),
        )
        twiml = await _bounded(
            lambda: _answer_key(firebell, press), unrecorded=_key_not_recorded(press),
            what=f"key press of {press.person} for incident {press.incident_id}",
        )
        return Response(twiml, media_type=TWIML)

    async def status(request: Request) -> Response:
        form = await signed(request)
        if isinstance(form, Response):
            return form
        ref = form.get("MessageSid") or form.get("CallSid") or ""
        state = form.get("MessageStatus") or form.get("CallStatus") or ""
        if not ref or not state:
            return PlainTextResponse("expected MessageSid/CallSid and a status", status_code=400)
        report = DeliveryReport(ref=ref, status=state, error=form.get("ErrorCode") or None)
        page_id = database_id(request.query_params.get("page", ""))
        await run_in_threadpool(_record, lambda: record_delivery(
            ctx, ref=report.ref, status=report.status, page_id=page_id,
            error=f"{report.status} (Twilio error {report.error})" if report.error else None))
        return Response(status_code=204)

    async def contact(request: Request) -> Response:
        if not numbers:
            return PlainTextResponse("no paging numbers: set TWILIO_FROM_NUMBER", status_code=404)
        return Response(vcard(numbers, url=settings.public_url), media_type="text/vcard",
                        headers={"Content-Disposition": 'attachment; filename="firebell.vcf"'})

    def meter() -> Meter:
        return firebell.ctx.meter

    return [  # every answer counted (webhook_requests_total)
        webhook_route("/twilio/sms", sms, meter),
        webhook_route("/twilio/voice", voice, meter),
        webhook_route("/twilio/status", status, meter),
        Route("/api/v1/contact.vcf", contact, methods=["GET"]),
    ]


async def _bounded(answer: Callable[[], str], *, unrecorded: str, what: str) -> str:
    """`answer()` (bot/bounded.py), else `unrecorded` when the database fails or is too slow."""
    text = await answer_in_time(answer, what=what, vendor="Twilio")
    return unrecorded if text is None else text


def _key_not_recorded(press: KeyPress) -> str:
    response = VoiceResponse()
    gather = response.gather(num_digits=1, action=press.action, method="POST", timeout=8)
    gather.say("Your acknowledgement may not have been recorded: Firebell's database is not "
               "answering. Press 1 to try again, or acknowledge in chat.")
    response.say("Goodbye.")
    return str(response)


def _answer_sms(firebell: Host, reply: SmsReply) -> str:
    person = person_by_phone(firebell.ctx.catalog, reply.sender)
    if person is None:
        return "Firebell does not know this number, so it cannot acknowledge for you."
    match = _ACK.match(reply.body)
    if match is None:
        return "Reply 1 (or ACK) to acknowledge your latest page, or ACK <incident number>."
    incident_id = database_id(match.group(1)) if match.group(1) else None
    if match.group(1) and incident_id is None:
        return f"Not acknowledged: there is no incident #{match.group(1)[:20]}."
    try:
        incident = acknowledge_page(firebell.ctx, person=person.id, incident_id=incident_id,
                                    channel="sms")
    except FirebellError as error:
        return f"Not acknowledged: {error}"
    return f"Acknowledged {incident.ref}: {incident.title}. Escalation stopped."


def _answer_key(firebell: Host, press: KeyPress) -> str:
    response = VoiceResponse()
    if press.digits != "1":
        gather = response.gather(num_digits=1, action=press.action, method="POST", timeout=8)
        gather.say(f"Press 1 to acknowledge incident {press.incident_id}.")
        response.say("No key was pressed. Goodbye.")
        return str(response)
    try:
        incident = acknowledge_page(firebell.ctx, person=press.person,
                                    incident_id=press.incident_id, channel="voice")
    except FirebellError as error:
        response.say(f"Not acknowledged: {error}")
    else:
        response.say(f"Acknowledged incident {incident.id}. Escalation stopped. Thank you.")
    response.hangup()
    return str(response)


def _record(report: Callable[[], object]) -> None:
    deadline = time.monotonic() + REF_WAIT_SECONDS
    while report() is None and time.monotonic() < deadline:
        time.sleep(0.1)
