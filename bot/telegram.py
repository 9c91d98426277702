"""Telegram's side of `firebell serve`: `POST /telegram/webhook`, where the Bot API delivers the
press of a page's Acknowledge button (a `callback_query` whose data is `ack:<page id>`).

Refused with 403 before the body is read unless the `X-Telegram-Bot-Api-Secret-Token` header
equals TELEGRAM_WEBHOOK_SECRET (the `secret_token` given to setWebhook), compared in constant
time. Any other update (a message, an edited message, a button of something else) is answered
200 and ignored: Telegram would redeliver it otherwise.

Only the person paged acknowledges: the presser's Telegram user id (`from.id`) must be the
`telegram_chat_id` of the page's person in the catalog; anyone else is told that they cannot.

An acknowledgement is never lost on a locked or failing database. As with Twilio (bot/twilio.py),
the press is answered within ACK_WAIT_SECONDS that it may not have been recorded; and the update
is answered 503, so that Telegram delivers it again until it is recorded (a second one is
harmless: the incident is acknowledged already, and the person is told by whom).
"""

from __future__ import annotations

import hmac
import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import anyio
import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute

from bot.bounded import answer_in_time
from bot.http_guard import webhook_route
from bot.incident_ids import database_id
from workflows.catalog.model import Catalog, Person
from workflows.incident.respond import acknowledge_by_page
from workflows.paging.test_page import is_test
from workflows.ports import ExternalServiceError, FirebellError

if TYPE_CHECKING:
    from bot.host import Host

log = logging.getLogger(__name__)

SECRET_HEADER = "x-telegram-bot-api-secret-token"
# Well inside the time a person waits on a button's spinner (Telegram shows it for ~15 s).
NOT_RECORDED = ("Your acknowledgement may not have been recorded: Firebell's database is not "
                "answering. Press Acknowledge again, or acknowledge in chat.")


@runtime_checkable
class CallbackAnswers(Protocol):
    """What the webhook needs of the Telegram pager: to answer a button press."""

    def answer_callback(self, *, query_id: str, text: str) -> None:
        """Show `text` to the presser. Raises ExternalServiceError."""
        ...


@dataclass(frozen=True)
class ButtonPress:
    query_id: str
    sender: int  # the presser's Telegram user id
    page_id: int | None  # None: the data is not one of our Acknowledge buttons


def person_by_chat(catalog: Catalog, chat_id: int) -> Person | None:
    return next((p for p in catalog.people if p.telegram_chat_id == chat_id), None)


def button_press(update: Any) -> ButtonPress | None:
    """The button press an update carries, if it is one (every other update is ignored)."""
    query = update.get("callback_query") if isinstance(update, dict) else None
    if not isinstance(query, dict):
        return None
    sender = query.get("from")
    query_id, data = query.get("id"), query.get("data")
    if not (isinstance(sender, dict) and isinstance(sender.get("id"), int)
            and isinstance(query_id, str) and query_id):
        return None
    kind, _, page = data.partition(":") if isinstance(data, str) else ("", "", "")
    return ButtonPress(query_id, sender["id"], database_id(page) if kind == "ack" else None)


def telegram_routes(firebell: Host) -> list[BaseRoute]:
    settings = firebell.settings

    async def webhook(request: Request) -> Response:
        if not settings.telegram_enabled:  # 404, not 5xx: Telegram would retry those
            return PlainTextResponse("Telegram is off: set TELEGRAM_BOT_TOKEN and "
                                     "TELEGRAM_WEBHOOK_SECRET", status_code=404)
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, (settings.telegram_webhook_secret or "").encode()):
            return PlainTextResponse("invalid Telegram secret token", status_code=403)
        try:
            update = json.loads(await request.body())
        except ValueError:  # not JSON, or not UTF-8
            return PlainTextResponse("the body is not a JSON update", status_code=400)
        press = button_press(update)
        if press is None:
            return JSONResponse({})  # not a button press: nothing of ours to do
        recorded = await _bounded(firebell, press)
        return JSONResponse({}) if recorded else JSONResponse(
            {"error": "the acknowledgement may not be recorded: deliver it again"},
            status_code=503)

    return [webhook_route("/telegram/webhook", webhook, lambda: firebell.ctx.meter)]


async def _bounded(firebell: Host, press: ButtonPress) -> bool:
    """Answer the press (bot/bounded.py: in a thread, within ACK_WAIT_SECONDS); False when the
    database failed or did not answer in time, after telling the presser so. Telegram's
    redelivery then finds the acknowledgement recorded, or records it."""
    what = f"Telegram acknowledgement of page {press.page_id} by user {press.sender}"
    text = await answer_in_time(lambda: _answer(firebell, press), what=what, vendor="Telegram")
    told = NOT_RECORDED if text is None else text
    await anyio.to_thread.run_sync(lambda: _tell(firebell, press, told))
    return text is not None


def _answer(firebell: Host, press: ButtonPress) -> str:
    person = person_by_chat(firebell.ctx.catalog, press.sender)
    if person is None:
        return "Firebell does not know your Telegram account, so you cannot acknowledge pages."
    if press.page_id is None:
        return "This button is not one Firebell knows."
    try:
        incident = acknowledge_by_page(firebell.ctx, page_id=press.page_id, person=person.id)
    except FirebellError as error:
        return f"Not acknowledged: {error}"
    if is_test(incident):
        return "Test page acknowledged by Telegram: acknowledging works. Nothing else happens."
    return f"Acknowledged {incident.ref}: {incident.title}. Escalation stopped."


def _tell(firebell: Host, press: ButtonPress, text: str) -> None:
    pager = firebell.ctx.pagers.get("telegram")
    if not isinstance(pager, CallbackAnswers):
        return
    try:
        pager.answer_callback(query_id=press.query_id, text=text)
    except ExternalServiceError as error:  # the acknowledgement itself stands
        log.warning("Telegram button press not answered (%s): %s", error, text)
