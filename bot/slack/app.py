"""Bolt listeners: each acks, turns the payload into one workflow call, and answers the person.

The words of `/incident` and `/oncall` live in `bot.command_table`; process rules in `workflows/`.
Every listener only acks and hands the work to a pool of its own, so it returns at once (the
work starts once the request's replay claim is committed: bot/slack/replays.py). Bolt runs
with `process_before_response=True`: the listener runs in the request's thread and the ack is
Slack's HTTP answer the moment it returns — no hop through Bolt's listener pool, and none of
the 10 ms polling Bolt does for an ack otherwise. A burst of slow work (Slack calls, SQL) never
holds an ack back.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App, Respond, Say
from slack_sdk import WebClient
from slack_sdk.webhook import WebhookClient

from bot.calendars import person_feed_url
from bot.commands import SLACK, Commands, DeclareForm, Invocation
from bot.forms import Choice, Form, FormErrors, Submission
from bot.questions import oncall_query
from bot.slack.blocks import (
    ACTION_PREFIX,
    DECLARE_CALLBACK,
    LINK_ACTION,
    declare_modal,
    read_declare_form,
)
from bot.slack.chat import slack_message, web_client
from bot.slack.forms import FORM_CALLBACK, form_view, matching, metadata_of, read_answers
from bot.slack.home import HOME_CALENDAR, HOME_COVER, HOME_DECLARE, HOME_SWAP
from bot.slack.replays import after_claim
from bot.slack.text import decode, person_of, slack_user_of, to_slack
from workflows.context import Context
from workflows.home import publish_home
from workflows.incident import capture
from workflows.incident.declare import declare
from workflows.ports import FirebellError

if TYPE_CHECKING:
    from bot.settings import Settings

log = logging.getLogger(__name__)

# What a person can fix: shown to them as a warning, not logged as a failure of ours. Anything
# else is a defect: logged with its traceback, and the person gets no internals to puzzle over.
USER_ERRORS = (FirebellError,)
# Message subtypes that are people talking; edits, joins, topic changes ... are not.
_SPOKEN = {None, "file_share", "thread_broadcast"}
_BUTTONS = re.compile(ACTION_PREFIX + r"(ack|resolve|take|pass|snooze|subscribe|status|role|escalate)$")  # take: a swap or cover offer
_MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")

Tell = Callable[[str], object]


def build_slack(*, ctx: Context, settings: Settings) -> App:
    """The Bolt app for `POST /slack/events` (or Socket Mode) on the given context."""
    app = App(
        client=web_client(token=settings.slack_bot_token or "", base_url=settings.slack_api_url),
        signing_secret=settings.slack_signing_secret or "",
        token_verification_enabled=False,
        process_before_response=True,
    )
    secret, public_url = settings.firebell_calendar_secret, settings.public_url

    def calendar_url(person: str) -> str | None:
        if not (secret and public_url):
            return None
        return person_feed_url(public_url=public_url, secret=secret, person=person)

    listeners = _Listeners(
        ctx, work=ThreadPoolExecutor(max_workers=16, thread_name_prefix="slack-work"),
        calendar_url=calendar_url,
    )
    app.command("/incident")(listeners.command)
    app.command("/oncall")(listeners.command)
    app.view(DECLARE_CALLBACK)(listeners.declare_submitted)
    app.view(FORM_CALLBACK)(listeners.form_submitted)  # the other forms (bot/forms.py)
    app.options("value")(listeners.suggest)  # an external select's options, as typed
    app.action(_BUTTONS)(listeners.button)
    app.action(re.compile(LINK_ACTION + r"_\d+"))(_only_ack)  # Slack opens the URL itself
    app.event("message")(listeners.message)
    app.event("app_mention")(listeners.mention)
    app.event("pin_added")(listeners.pin_added)
    app.event("reaction_added")(listeners.reaction_added)
    app.event("app_home_opened")(listeners.home_opened)  # the App Home (bot/slack/home.py)
    app.action(HOME_DECLARE)(listeners.home_declare)
    app.action(HOME_SWAP)(listeners.home_swap)
    app.action(HOME_COVER)(listeners.home_cover)
    app.action(HOME_CALENDAR)(_only_ack)  # a URL button: Slack opens the feed itself
    return app


def _only_ack(ack: Ack) -> None:
    ack()


@contextmanager
def _answering(tell: Tell) -> Iterator[None]:
    """Turn an error into a message to the person who asked."""
    try:
        yield
    except USER_ERRORS as error:
        tell(f":warning: {error}")
    except Exception:
        log.exception("a Slack request failed")
        tell(":warning: Something went wrong in Firebell; the details are in its log.")


def _log_failure(future: Future[None]) -> None:
    error = future.exception()
    if error is not None:  # `_answering` tells the person; this is when telling them failed
        log.error("Slack work after the ack failed", exc_info=error)


class _Listeners:
    """Public methods are Bolt listeners: ack, then hand the work to `work`."""

    def __init__(
        self, ctx: Context, *, work: Executor, calendar_url: Callable[[str], str | None]
    ) -> None:
        self.ctx = ctx
        self.work = work
        self.commands = Commands(
            ctx, forms=True, mention=self._mention, channel_link=lambda channel: f"#{channel}",
            calendar_url=calendar_url, platform=SLACK, action_forms=True,
        )

    def _later(self, fn: Callable[..., None], *args: Any) -> None:
        # Only once the request is known to be its first delivery (bot/slack/replays.py).
        after_claim(lambda: self.work.submit(fn, *args).add_done_callback(_log_failure))

    def _mention(self, person: str) -> str:
        """`@person` (plain text; `_out` makes it a Slack mention) or, without a Slack id, the
        person's name."""
        try:
            found = self.ctx.catalog.person(person)
        except LookupError:
            return person
        return f"@{found.id}" if found.slack else found.name

    # Slack's escaping is undone on the way in and applied once on the way out (bot.slack.text).
    def _in(self, text: str) -> str:
        return decode(text, person=person_of(self.ctx.catalog))

    def _out(self, text: str) -> str:
        return to_slack(text, slack_user=slack_user_of(self.ctx.catalog))

    # slash commands ------------------------------------------------------------
    def command(self, ack: Ack, command: dict[str, Any], respond: Respond, client: WebClient) -> None:
        ack()
        self._later(self._command, command, respond, client)

    def _command(self, command: dict[str, Any], respond: Respond, client: WebClient) -> None:
        def tell(text: str) -> None:
            respond(text=self._out(text), response_type="ephemeral")

        invocation = Invocation(
            command=command["command"].lstrip("/"), text=self._in(command.get("text") or ""),
            user=command["user_id"], channel=command.get("channel_id"),
        )
        with _answering(tell):
            reply = self.commands.handle(invocation)
            if reply.ask is not None:
                self._open_form(client, reply.ask, trigger_id=command["trigger_id"],
                                channel=command.get("channel_id"),
                                response_url=command.get("response_url"))
                return
            if reply.form is not None:
                client.views_open(trigger_id=command["trigger_id"],
                                  view=self._declare_view(reply.form, command))
                return
            respond(text=self._out(reply.text),
                    response_type="in_channel" if reply.public else "ephemeral")

    def _declare_view(self, form: DeclareForm, command: dict[str, Any]) -> dict[str, Any]:
        catalog = self.ctx.catalog
        # Where to confirm once submitted: the command's response_url lives for 30 minutes.
        metadata = {"channel": command.get("channel_id") or "",
                    "response_url": command.get("response_url") or ""}
        return declare_modal(
            title=form.title, services=[(s.name, s.id) for s in catalog.services],
            severities=list(catalog.priorities.matrix), drill=form.drill, service=form.service,
            metadata=metadata,
        )

    # the declaration modal --------------------------------------------------------
    def declare_submitted(self, ack: Ack, body: dict[str, Any], view: dict[str, Any],
                          client: WebClient) -> None:
        ack()
        self._later(self._declare, body, view, client)

    def _declare(self, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        user = body["user"]["id"]
        metadata = json.loads(view.get("private_metadata") or "{}")
        response_url = metadata.get("response_url")

        def tell(text: str) -> None:
            if response_url:
                WebhookClient(response_url, timeout=10).send(text=self._out(text),
                                                             response_type="ephemeral")
            else:
                client.chat_postMessage(channel=user, text=self._out(text))

        with _answering(tell):
            self.commands.require(user, "declare")  # the form may have been opened before a change
            request = replace(read_declare_form(view), reporter=self.commands.actor(user),
                              platform=SLACK.catalog_key)
            incident = declare(self.ctx, request)
            where = f" in #{incident.channel}" if incident.channel else (
                "; its channel is being created"
                if self.ctx.catalog.response_for(incident.priority).page else "")
            tell(f"Declared {incident.ref} ({incident.priority}){where}.")

    # buttons: the same words as the commands -------------------------------------
    def button(self, ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond,
               client: WebClient) -> None:
        ack()
        self._later(self._button, body, action, respond, client)

    def _button(self, body: dict[str, Any], action: dict[str, Any], respond: Respond,
                client: WebClient) -> None:
        user = body["user"]["id"]
        channel = (body.get("channel") or {}).get("id")

        def tell(text: str) -> None:
            text = self._out(text)
            if body.get("response_url"):
                respond(text=text, response_type="ephemeral", replace_original=False)
            elif channel:
                client.chat_postEphemeral(channel=channel, user=user, text=text)
            else:
                client.chat_postMessage(channel=user, text=text)

        verb = action["action_id"].removeprefix(ACTION_PREFIX)
        with _answering(tell):
            reply = self.commands.handle(
                Invocation(command="oncall" if verb == "take" else "incident",
                           text=f"{verb} {int(action['value'])}", user=user,
                           channel=channel)
            )
            if reply.ask is not None:  # Update status, Set role, Escalate: their forms
                self._open_form(client, reply.ask, trigger_id=body["trigger_id"], channel=channel,
                                response_url=body.get("response_url"))
                return
            tell(reply.text)

    # the forms of bot/forms.py ----------------------------------------------------------
    def _open_form(self, client: WebClient, form: Form, *, trigger_id: str, channel: str | None,
                   response_url: str | None) -> None:
        # Where to answer once submitted: the command's or button's response_url (30 minutes).
        client.views_open(trigger_id=trigger_id, view=form_view(
            form, metadata={"channel": channel or "", "response_url": response_url or ""},
            slack_user=slack_user_of(self.ctx.catalog)))

    def form_submitted(self, ack: Ack, body: dict[str, Any], view: dict[str, Any],
                       client: WebClient) -> None:
        """Answers that cannot be used (a person not in the catalog) are shown in the form,
        which stays open; the command itself runs after the ack."""
        metadata = metadata_of(view)
        incident = metadata.get("incident")
        submission = Submission(
            command=str(metadata.get("command") or ""), answers=read_answers(view),
            incident=incident if isinstance(incident, int) else None, user=body["user"]["id"],
            channel=metadata.get("channel") or None)
        try:
            args = self.commands.read_form(submission)
        except FormErrors as error:
            ack(response_action="errors", errors=error.errors)
            return
        except Exception as error:  # told after the ack, like any failure of the command
            ack()
            self._later(self._form_failed, submission, metadata, client, error)
            return
        ack()
        self._later(self._submit_form, submission, args, metadata, client)

    def _submit_form(self, submission: Submission, args: Any, metadata: dict[str, Any],
                     client: WebClient) -> None:
        tell = self._tell_submitter(submission, metadata, client)
        with _answering(tell):
            tell(self.commands.submit(submission, args).text)

    def _form_failed(self, submission: Submission, metadata: dict[str, Any], client: WebClient,
                     error: Exception) -> None:
        with _answering(self._tell_submitter(submission, metadata, client)):
            raise error

    def _tell_submitter(self, submission: Submission, metadata: dict[str, Any],
                        client: WebClient) -> Tell:
        response_url = str(metadata.get("response_url") or "")

        def tell(text: str) -> None:
            if response_url:
                WebhookClient(response_url, timeout=10).send(
                    text=self._out(text), response_type="ephemeral", replace_original=False)
            elif submission.channel:
                client.chat_postEphemeral(channel=submission.channel, user=submission.user,
                                          text=self._out(text))
            else:
                client.chat_postMessage(channel=submission.user, text=self._out(text))

        return tell

    def suggest(self, ack: Ack, body: dict[str, Any]) -> None:
        """`block_suggestion`: the options of an external select matching what is typed (a
        catalog's 300 services for the declaration, any list past Slack's 100 options)."""
        view, block = body.get("view") or {}, str(body.get("block_id") or "")
        choices: list[Choice] = []
        try:
            if view.get("callback_id") == DECLARE_CALLBACK and block == "service":
                choices = [Choice(s.name, s.id) for s in self.ctx.catalog.services]
            elif view.get("callback_id") == FORM_CALLBACK:
                choices = self._form_choices(view, block, body["user"]["id"])
        except Exception:  # an empty list; the person can still close the form
            log.exception("options for a Slack select failed")
        ack(options=matching(choices, str(body.get("value") or "")))

    def _form_choices(self, view: dict[str, Any], block: str, user: str) -> list[Choice]:
        """The choices of one field of the form as it would be built now."""
        metadata = metadata_of(view)
        command, _, sub = str(metadata.get("command") or "").partition(" ")
        incident = metadata.get("incident")
        reply = self.commands.handle(Invocation(
            command, f"{sub} {incident if isinstance(incident, int) else ''}".strip(), user=user,
            channel=metadata.get("channel") or None))
        if reply.ask is None:
            return []
        return list(reply.ask.field(block).choices)

    # Events API ------------------------------------------------------------------
    def message(self, event: dict[str, Any]) -> None:
        """People's messages in an incident channel join its timeline (once, even if redelivered);
        edits and deletions revise it."""
        self._later(self._message, event)  # Bolt acked the event already

    def _message(self, event: dict[str, Any]) -> None:
        channel, subtype = event.get("channel") or "", event.get("subtype")
        if subtype == "message_changed":
            new = event.get("message") or {}
            if new.get("bot_id") or not new.get("ts"):
                return
            message_id = f"{channel}:{new['ts']}"
            if new.get("subtype") == "tombstone":  # deleted, but its thread replies live on
                capture.record_deletion(self.ctx, channel=channel, message_id=message_id)
                return
            capture.record_edit(self.ctx, channel=channel, message_id=message_id,
                                text=self._in(new.get("text") or ""), editor=new.get("user"))
        elif subtype == "message_deleted":
            if event.get("deleted_ts"):
                capture.record_deletion(self.ctx, channel=channel,
                                        message_id=f"{channel}:{event['deleted_ts']}")
        elif subtype in _SPOKEN and not event.get("bot_id") and event.get("user") and channel:
            capture.record_chat_message(
                self.ctx, channel=channel,
                message=slack_message(channel, event, person=person_of(self.ctx.catalog)))

    def pin_added(self, event: dict[str, Any]) -> None:
        self._later(self._pin_added, event)

    def _pin_added(self, event: dict[str, Any]) -> None:
        item, channel = event.get("item") or {}, event.get("channel_id") or ""
        ts = (item.get("message") or {}).get("ts")
        if item.get("type") == "message" and ts:
            capture.record_pin(self.ctx, channel=channel, message_id=f"{channel}:{ts}",
                               actor=self.commands.actor(event.get("user") or ""))

    def reaction_added(self, event: dict[str, Any]) -> None:
        self._later(self._reaction_added, event)

    def _reaction_added(self, event: dict[str, Any]) -> None:
        item = event.get("item") or {}
        if item.get("type") == "message" and item.get("channel") and item.get("ts"):
            capture.record_reaction(
                self.ctx, channel=item["channel"], message_id=f"{item['channel']}:{item['ts']}",
                reaction=event.get("reaction") or "",
                actor=self.commands.actor(event.get("user") or ""),
            )

    def mention(self, event: dict[str, Any], say: Say) -> None:
        """`@firebell who is on call for payments?` answers like `/oncall payments`, in the thread."""
        self._later(self._mention_answer, event, say)

    def _mention_answer(self, event: dict[str, Any], say: Say) -> None:
        thread = event.get("thread_ts") or event.get("ts")

        def tell(text: str) -> None:
            say(text=self._out(text), thread_ts=thread)

        question = self._in(_MENTION.sub("", event.get("text") or "")).strip()
        query = oncall_query(question)
        if query is None:
            tell('Ask me "who is on call for <team or service>?", or try `/incident help`.')
            return
        with _answering(tell):
            tell(self.commands.oncall(query).text)

    # the App Home: published when opened; its buttons run the same words as the commands ----
    def home_opened(self, event: dict[str, Any]) -> None:
        if event.get("tab") == "home" and event.get("user"):
            self._later(self._publish_home, str(event["user"]))

    def _publish_home(self, user: str) -> None:
        publish_home(self.ctx, person=self.commands.actor(user))

    def home_declare(self, ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        self._later(self._home_declare, body, client)

    def _home_declare(self, body: dict[str, Any], client: WebClient) -> None:
        user = body["user"]["id"]
        tell = self._tell_in_dm(client, user)
        with _answering(tell):
            reply = self.commands.handle(Invocation(command="incident", text="declare", user=user,
                                                    channel=None))
            if reply.form is None:
                tell(reply.text)
                return
            client.views_open(trigger_id=body["trigger_id"],
                              view=self._declare_view(reply.form, {}))

    def home_swap(self, ack: Ack, body: dict[str, Any], action: dict[str, Any],
                  client: WebClient) -> None:
        ack()
        self._later(self._home_oncall, body["user"]["id"], f"swap {action.get('value') or ''}",
                    client)

    def home_cover(self, ack: Ack, body: dict[str, Any], action: dict[str, Any],
                   client: WebClient) -> None:
        ack()
        chosen = (action.get("selected_option") or {}).get("value") or ""
        self._later(self._home_oncall, body["user"]["id"], f"cover {chosen}", client)

    def _home_oncall(self, user: str, text: str, client: WebClient) -> None:
        tell = self._tell_in_dm(client, user)
        with _answering(tell):
            tell(self.commands.handle(Invocation(command="oncall", text=text.strip(), user=user,
                                                 channel=None)).text)

    def _tell_in_dm(self, client: WebClient, user: str) -> Tell:
        """The App Home has no channel to answer in: the answer is a direct message."""
        return lambda text: client.chat_postMessage(channel=user, text=self._out(text))
