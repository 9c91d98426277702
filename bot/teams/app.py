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
  with the refreshed card in the HTTP response, so no stale button stays live. A command with a
  form (bot/forms.py), typed bare or pressed on the live card (Update status, Set role,
  Escalate), answers with the form as a card (bot/teams/forms.py); submitted (verb
  `form:<command>`), its inputs are read by the form's own reader into the typed command's
  arguments and run through the command table, and the invoke is answered with what it did, or
  with the form again, saying what to correct.
- an `application/search` invoke (a form's typeahead past 100 choices) is answered with the
  choices matching what is typed.
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
from bot.forms import Choice, Form, FormErrors, Submission
from bot.questions import oncall_query
from bot.teams import cards, forms
from bot.teams.auth import BotFrameworkAuth, Unauthorized
from bot.teams.connector import BotConnector
from storage.teams_store import PERSONAL, ConversationRef, SqlTeamsStore
from workflows.context import Context
from workflows.model import Incident
from workflows.ports import FirebellError

log = logging.getLogger(__name__)

CARD = "application/vnd.microsoft.card.adaptive"
CARD_ACTION = "adaptiveCard/action"
SEARCH = "application/search"  # a typeahead's Data.Query
SEARCH_RESPONSE = "application/vnd.microsoft.search.searchResponse"
_COMMANDS = ("incident", "oncall")
_REFRESHED = {"ack", "resolve", cards.REFRESH_VERB}
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
            calendar_url=calendar_url, platform=TEAMS, action_forms=True,
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
            name = activity.get("name")
            if name == CARD_ACTION:
                return JSONResponse(await run_in_threadpool(self._invoke, activity))
            if name == SEARCH:
                return JSONResponse(await run_in_threadpool(self._search, activity))
            return JSONResponse({}, status_code=200)
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
            reply = self._run(activity)
            if reply is not None:
                self._reply(ref, reply, channel=_channel(activity))

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

    def _reply(self, ref: ConversationRef, reply: Reply, *, channel: str) -> None:
        if reply.ask is not None:  # a command typed without its arguments: its form
            self._send(ref, _card_activity(self._form_card(reply.ask, channel=channel)))
        elif reply.form is not None:
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
        if verb.startswith(forms.FORM_VERB):
            return self._submitted(activity, verb, data)
        incident_id = _int(data.get("incident") or data.get("value"))
        text = ""
        try:
            if verb != cards.REFRESH_VERB:
                command, _, rest = cards.read_form(verb, data).partition(" ")
                reply = self.commands.handle(Invocation(
                    command, rest, user=_user(activity), channel=_channel(activity)))
                if reply.ask is not None:  # Update status, Set role, Escalate: their forms
                    return _card_answer(self._form_card(reply.ask, channel=_channel(activity)))
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

    # the forms of bot/forms.py ------------------------------------------------------------------
    def _form_card(self, form: Form, *, channel: str | None, values: Mapping[str, Any] | None = None,
                   errors: Mapping[str, str] | None = None, warning: str = "") -> dict[str, Any]:
        return forms.form_card(form, metadata={"channel": channel or ""}, people=self._people(),
                               teams_id=self._teams_id, values=values, errors=errors,
                               warning=warning)

    def _people(self) -> list[Choice]:
        """Whom a person field offers: the catalog's people Teams knows (their Entra id)."""
        return [Choice(p.name, p.teams) for p in self.ctx.catalog.people if p.teams]

    def _teams_id(self, person: str) -> str | None:
        return next((p.teams for p in self.ctx.catalog.people if p.id == person), None)

    def _submitted(self, activity: Mapping[str, Any], verb: str,
                   data: Mapping[str, Any]) -> dict[str, Any]:
        """A submitted form: read by the form's reader, run as the typed command. Answers that
        cannot be used (a person not in the catalog, a missing one) or a refusal bring the form
        back with what was filled in and what to correct; done, a card saying what happened."""
        command, metadata, answers = forms.read_submission(verb, data)
        submission = Submission(
            command=command, answers=answers, incident=_int(metadata.get("incident")),
            user=_user(activity), channel=str(metadata.get("channel") or "") or _channel(activity))
        try:
            reply = self.commands.submit(submission, self.commands.read_form(submission))
        except FormErrors as error:
            return self._form_again(submission, data, errors=error.errors)
        except FirebellError as error:
            return self._form_again(submission, data, warning=f":warning: {error}")
        except Exception:
            log.exception("a Teams form failed")
            return _card_answer(cards.message_card(
                text=":warning: Something went wrong in Firebell; the details are in its log."))
        title = str(metadata.get("title") or "")
        return _card_answer(cards.message_card(title=title or None, text=reply.text or "Done.",
                                               tone="good"))

    def _form_again(self, submission: Submission, values: Mapping[str, Any], *,
                    errors: Mapping[str, str] | None = None, warning: str = "") -> dict[str, Any]:
        """The form as it would open now, filled in as submitted, with what to correct; if it
        cannot open any more (no longer allowed, say), the reason."""
        try:
            form = self._form_of(submission.command, submission.incident, user=submission.user,
                                 channel=submission.channel)
        except FirebellError as error:
            return _card_answer(cards.message_card(text=f":warning: {error}"))
        if form is None:
            return _card_answer(cards.message_card(text=warning or ":warning: Not done."))
        return _card_answer(self._form_card(form, channel=submission.channel, values=values,
                                            errors=errors, warning=warning))

    def _form_of(self, command: str, incident: int | None, *, user: str,
                 channel: str | None) -> Form | None:
        """The form of `command` ("incident status") about `incident`, built as the bare command
        builds it now (with its access check)."""
        words, _, sub = command.partition(" ")
        number = "" if incident is None else str(incident)
        reply = self.commands.handle(Invocation(words, f"{sub} {number}".strip(), user=user,
                                                channel=channel))
        return reply.ask

    def _search(self, activity: Mapping[str, Any]) -> dict[str, Any]:
        """`application/search` from a form's typeahead (a list past 100 choices): the choices
        matching what is typed, of the field the card's dataset names."""
        value = _mapping(activity.get("value"))
        options = _mapping(value.get("queryOptions"))
        command, field, incident = forms.search_of(_text(value.get("dataset")))
        choices: list[Choice] = []
        try:
            form = self._form_of(command, incident, user=_user(activity),
                                 channel=_channel(activity))
            if form is not None and any(f.name == field for f in form.fields):
                kind = form.field(field).kind
                choices = self._people() if kind in ("person", "people") else list(
                    form.field(field).choices)
        except Exception:  # no choices; the person can still close the card
            log.exception("choices for a Teams typeahead failed")
        results = forms.matching(choices, _text(value.get("queryText")),
                                 skip=_int(options.get("skip")) or 0,
                                 top=_int(options.get("top")) or forms.SEARCH_RESULTS)
        return {"statusCode": 200, "type": SEARCH_RESPONSE, "value": {"results": results}}

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


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


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
