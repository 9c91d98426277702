"""`POST /api/messages`: Teams activities in, the shared command table, replies out.

Every request is authenticated first (bot/teams/auth.py: the Bot Framework's signed token, its
`serviceurl` claim equal to the activity's `serviceUrl`); a refused one is answered 401 and leaves
no trace. Then the conversation reference is stored (storage/teams_store.py: the only addresses
replies and pages go to), and:

- a `message` to the bot (1:1, or mentioning it) is the words of a command, `/incident ...`,
  `incident ...`, `oncall ...`, `help`, or "who is on call for X"; it is answered 200 at once and
  run after, the reply sent into the conversation through the Bot Connector (like Slack's lazy
  listeners). A channel message is also offered to the timeline (`bot/teams/capture.py`).
- an `adaptiveCard/action` invoke (a card's `Action.Execute`) runs the same command and answers
  with the refreshed card in the HTTP response, so no stale button stays live.
- `conversationUpdate` / `installationUpdate` (the bot added) only store the reference.
"""

from __future__ import annotations

import html
import importlib
import importlib.util
import json
import logging
import re
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from bot.commands import TEAMS, Commands, DeclareForm, Invocation, Reply
from bot.questions import oncall_query
from bot.teams import cards
from bot.teams.auth import BotFrameworkAuth, Unauthorized
from bot.teams.connector import BotConnector
from storage.teams_store import PERSONAL, ConversationRef, SqlTeamsStore
from workflows.context import Context
from workflows.model import ROLES, Incident
from workflows.ports import FirebellError

log = logging.getLogger(__name__)

CARD = "application/vnd.microsoft.card.adaptive"
CARD_ACTION = "adaptiveCard/action"
_COMMANDS = ("incident", "oncall")
_REFRESHED = {"ack", "resolve", cards.REFRESH_VERB}
_FORMS = ("status", "role", "action")  # typed bare in an incident channel: a card to fill in  # buttons of a page card: answer with it
_TAG = re.compile(r"</?[a-zA-Z][^<>]*>")
_HINT = ('Ask me "who is on call for <team or service>?", or type `incident help`.')

Capture = Callable[[Context, Mapping[str, Any]], bool]


class TeamsFrontEnd:
    """The handler of `POST /api/messages` for one bot registration."""

    def __init__(
        self, ctx: Context, *, auth: BotFrameworkAuth, connector: BotConnector,
        store: SqlTeamsStore, work: Executor | None = None,
        calendar_url: Callable[[str], str | None] = lambda person: None,
    ) -> None:
        self.ctx = ctx
        self.auth = auth
        self.connector = connector
        self.store = store
        self.work = work or ThreadPoolExecutor(max_workers=16, thread_name_prefix="teams-work")
        self.commands = Commands(
            ctx, forms=True, mention=self._mention, channel_link=self._channel_link,
            calendar_url=calendar_url, platform=TEAMS,
        )
        self.capture = _capture()

    # the route ----------------------------------------------------------------------------
    async def messages(self, request: Request) -> Response:
        """Authenticate, store the reference, answer; slow work goes after the answer."""
        authorization = request.headers.get("authorization", "")
        try:
            # Before the body is read: a request without a valid token gets nothing from us.
            claims = await run_in_threadpool(self.auth.validate, authorization)
            activity = _object(await request.body())
            if activity is None:  # signed, yet no activity to check the service URL against
                raise Unauthorized("the body is not an activity")
            self.auth.check_activity(claims, activity)
        except Unauthorized as error:
            log.debug("Teams request refused: %s", error)
            return PlainTextResponse("unauthorized", status_code=401,
                                     headers={"WWW-Authenticate": "Bearer"})
        ref = _reference(activity)
        if ref is None:
            return PlainTextResponse("not a Teams activity (no conversation)", status_code=400)
        await run_in_threadpool(self._remember, ref, activity)
        kind = activity.get("type")
        if kind == "invoke":
            if activity.get("name") != CARD_ACTION:
                return JSONResponse({}, status_code=200)
            answer = await run_in_threadpool(self._invoke, activity)
            return JSONResponse(answer)
        if kind in ("message", "messageUpdate", "messageDelete"):
            self._later(self._message, ref, activity)
        return Response(status_code=200)

    def _remember(self, ref: ConversationRef, activity: Mapping[str, Any]) -> None:
        now = self.ctx.now()
        self.store.remember(ref, user=_user(activity) or None, now=now)
        channel = _channel_id(activity)
        if channel and channel != ref.conversation_id:  # the channel itself, for new threads
            self.store.remember(ConversationRef(channel, ref.service_url, ref.tenant_id,
                                                "channel"), user=None, now=now)

    def _later(self, fn: Callable[..., None], *args: Any) -> None:
        self.work.submit(fn, *args).add_done_callback(_log_failure)

    # messages -----------------------------------------------------------------------------
    def _message(self, ref: ConversationRef, activity: Mapping[str, Any]) -> None:
        personal = ref.conversation_type == PERSONAL
        if not personal and self.capture is not None:
            try:
                self.capture(self.ctx, activity)  # the incident channel's timeline
            except Exception:  # the timeline's loss; a command in the same message still runs
                log.exception("recording a Teams channel message failed")
        if activity.get("type") != "message" or not (personal or _mentions_bot(activity)):
            return

        def tell(text: str) -> None:
            self._send(ref, _text_activity(text))

        with _answering(tell):
            form = self._form(activity)
            if form is not None:
                self._send(ref, _card_activity(form))
                return
            reply = self._run(activity)
            if reply is not None:
                self._reply(ref, reply)

    def _form(self, activity: Mapping[str, Any]) -> dict[str, Any] | None:
        """`incident status`, `incident role` or `incident action` with nothing after them, in
        an incident's channel: the card to fill in (submitted, it runs the same command)."""
        words = _words(activity).lstrip("/").lower().split()
        if len(words) != 2 or words[0] != "incident" or words[1] not in _FORMS:
            return None
        with self.ctx.reading() as uow:
            incident = uow.incidents.incident_by_channel(_channel(activity))
        if incident is None or incident.id is None:
            return None  # the command itself says which incident it needs
        people = [(p.name, p.id) for p in self.ctx.catalog.people]
        if words[1] == "status":
            return cards.status_form(incident_ref=incident.ref, incident_id=incident.id)
        if words[1] == "role":
            return cards.role_form(incident_ref=incident.ref, incident_id=incident.id,
                                   roles=[(label, role) for role, label in ROLES.items()],
                                   people=people)
        return cards.action_form(incident_ref=incident.ref, incident_id=incident.id,
                                 people=people)

    def _run(self, activity: Mapping[str, Any]) -> Reply | None:
        user, channel = _user(activity), _channel(activity)
        value = activity.get("value")
        if isinstance(value, dict) and isinstance(value.get("verb"), str):  # an Action.Submit
            line = cards.read_form(value["verb"], value)
        else:
            line = _words(activity)
        command, _, rest = line.lstrip("/").partition(" ")
        if command.lower() in _COMMANDS:
            return self.commands.handle(Invocation(command.lower(), rest.strip(), user=user,
                                                   channel=channel))
        if command.lower() == "help":
            return self.commands.handle(Invocation("incident", "help", user=user, channel=channel))
        query = oncall_query(line)
        if query is not None:
            return self.commands.oncall(query)
        return Reply(_HINT)

    def _reply(self, ref: ConversationRef, reply: Reply) -> None:
        if reply.form is not None:
            self._send(ref, _card_activity(self._declare_card(reply.form)))
        elif reply.text:
            self._send(ref, _text_activity(reply.text))

    def _declare_card(self, form: DeclareForm) -> dict[str, Any]:
        catalog = self.ctx.catalog
        return cards.declare_form(
            services=[(s.name, s.id) for s in catalog.services],
            severities=list(catalog.priorities.matrix), title=form.title, drill=form.drill,
            service=form.service,
        )

    def _send(self, ref: ConversationRef, activity: dict[str, Any]) -> None:
        self.connector.send(ref.service_url, ref.conversation_id, activity)

    # card actions (Action.Execute) ----------------------------------------------------------
    def _invoke(self, activity: Mapping[str, Any]) -> dict[str, Any]:
        """The answer to an `adaptiveCard/action` invoke: the card that replaces the one used."""
        action = (activity.get("value") or {}).get("action") or {}
        verb, data = action.get("verb"), action.get("data") or {}
        if not isinstance(verb, str) or not isinstance(data, dict):
            return _card_answer(cards.message_card(text=":warning: This card sent no action."))
        incident_id = _int(data.get("incident") or data.get("value"))
        text = ""
        try:
            if verb != cards.REFRESH_VERB:
                command, _, rest = cards.read_form(verb, data).partition(" ")
                reply = self.commands.handle(Invocation(
                    command, rest, user=_user(activity), channel=_channel(activity)))
                if reply.form is not None:
                    return _card_answer(self._declare_card(reply.form))
                text = reply.text
        except FirebellError as error:
            text = f":warning: {error}"
        except Exception:
            log.exception("a Teams card action failed")
            text = ":warning: Something went wrong in Firebell; the details are in its log."
        if verb in _REFRESHED and incident_id is not None:
            card = self._page_card(incident_id, text)
            if card is not None:
                return _card_answer(card)
        return _card_answer(cards.message_card(text=text or "Done."))

    def _page_card(self, incident_id: int, text: str) -> dict[str, Any] | None:
        """The page card of the incident as it is now (acknowledged: no button any more)."""
        try:
            with self.ctx.store.transaction() as tx:
                incident: Incident = tx.get_incident(incident_id)
        except FirebellError:
            return None
        return cards.page_card(
            incident_ref=incident.ref, incident_id=incident_id, title=incident.title,
            text=text or f"{incident.priority} · {incident.service} · {incident.state.value}",
            acknowledged_by=self.ctx.display(incident.acknowledged_by),
        )

    # how people and channels are shown ----------------------------------------------------
    def _mention(self, person: str) -> str:
        return self.ctx.display(person) or person

    def _channel_link(self, channel: str) -> str:
        return self.ctx.chat.channel_link(channel)


# reading an activity ------------------------------------------------------------------------
def _object(body: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(body)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _field(activity: Mapping[str, Any], *path: str) -> Any:
    value: Any = activity
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _reference(activity: Mapping[str, Any]) -> ConversationRef | None:
    conversation_id = _text(_field(activity, "conversation", "id"))
    if not conversation_id:
        return None
    tenant = (_text(_field(activity, "conversation", "tenantId"))
              or _text(_field(activity, "channelData", "tenant", "id")))
    return ConversationRef(
        conversation_id=conversation_id, service_url=_text(activity.get("serviceUrl")),
        tenant_id=tenant,
        conversation_type=_text(_field(activity, "conversation", "conversationType")),
    )


def _user(activity: Mapping[str, Any]) -> str:
    """The sender's Entra object id (the catalog's `teams:`), else their Teams id."""
    return (_text(_field(activity, "from", "aadObjectId"))
            or _text(_field(activity, "from", "id")))


def _channel_id(activity: Mapping[str, Any]) -> str:
    return _text(_field(activity, "channelData", "channel", "id"))


def _channel(activity: Mapping[str, Any]) -> str:
    """Where a command was typed, as incidents name their channels: a Teams channel's id (not
    the thread's conversation id, `19:…;messageid=…`), else the conversation id."""
    conversation = _text(_field(activity, "conversation", "id"))
    return _channel_id(activity) or conversation.split(";messageid=")[0]


def _mentions_bot(activity: Mapping[str, Any]) -> bool:
    bot = _text(_field(activity, "recipient", "id"))
    return any(_field(e, "mentioned", "id") == bot for e in _entities(activity))


def _entities(activity: Mapping[str, Any]) -> list[dict[str, Any]]:
    found = activity.get("entities")
    return [e for e in found if isinstance(e, dict) and e.get("type") == "mention"] \
        if isinstance(found, list) else []


def _words(activity: Mapping[str, Any]) -> str:
    """The message's text without the bot's `<at>…</at>` mention and Teams' HTML."""
    text = _text(activity.get("text"))
    bot = _text(_field(activity, "recipient", "id"))
    for entity in _entities(activity):
        if _field(entity, "mentioned", "id") == bot and _text(entity.get("text")):
            text = text.replace(entity["text"], " ")
    text = re.sub(r"<at>[^<]*</at>", " ", text, count=1) if not _entities(activity) else text
    return " ".join(html.unescape(_TAG.sub(" ", text)).split())


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# writing ----------------------------------------------------------------------------------------
def _text_activity(text: str) -> dict[str, Any]:
    return {"type": "message", "textFormat": "markdown", "text": cards.to_teams(text)}


def _card_activity(card: dict[str, Any]) -> dict[str, Any]:
    return {"type": "message", "attachments": [{"contentType": CARD, "content": card}]}


def _card_answer(card: dict[str, Any]) -> dict[str, Any]:
    return {"statusCode": 200, "type": CARD, "value": card}


@contextmanager
def _answering(tell: Callable[[str], None]) -> Iterator[None]:
    """Turn an error into a message to the person who asked (as Slack's listeners do)."""
    try:
        yield
    except FirebellError as error:
        tell(f":warning: {error}")
    except Exception:
        log.exception("a Teams message failed")
        tell(":warning: Something went wrong in Firebell; the details are in its log.")


def _log_failure(future: Future[None]) -> None:
    error = future.exception()
    if error is not None:  # `_answering` tells the person; this is when telling them failed
        log.error("Teams work after the answer failed", exc_info=error)


def _capture() -> Capture | None:
    """bot/teams/capture.py's `capture_activity`, when that module is present."""
    if importlib.util.find_spec("bot.teams.capture") is None:
        return None
    found: Capture = importlib.import_module("bot.teams.capture").capture_activity
    return found
