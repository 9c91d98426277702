"""The front-ends' one door to the command table: who is asking, may they, then the table entry.

A front-end (bot/slack/app.py, bot/console/, Teams next) builds `Commands` once with how it shows
people and channels, turns its input into an `Invocation`, and shows the `Reply`. The commands
themselves are entries of `bot/command_table.py`; process rules stay in `workflows/`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from bot import command_table
from bot.forms import Submission
from bot.incident_ids import after_ref, split_ref
from bot.invocation import Args, Call, DeclareForm, Invocation, Reply, channel_incident
from workflows import access
from workflows.catalog.model import Person
from workflows.context import Context
from workflows.ports import InvalidRequest

__all__ = ["CONSOLE", "SLACK", "TEAMS", "Commands", "DeclareForm", "Invocation", "Platform", "Reply"]


@dataclass(frozen=True)
class Platform:
    """Where commands come from, and what a user id there is."""

    name: str  # for messages: "Slack user U123"
    catalog_key: str | None  # the person's catalog key holding this platform's id; None: a person id


SLACK = Platform("Slack", "slack")
TEAMS = Platform("Teams", "teams")
CONSOLE = Platform("console", None)  # the sandbox: its user is a catalog person's id


class Commands:
    """Runs an `Invocation` through the command table for one front-end."""

    def __init__(
        self,
        ctx: Context,
        *,
        forms: bool,
        mention: Callable[[str], str] = lambda person: person,
        channel_link: Callable[[str], str] = lambda channel: channel,
        calendar_url: Callable[[str], str | None] = lambda person: None,
        platform: Platform = CONSOLE,
        action_forms: bool = False,
    ) -> None:
        self.ctx = ctx
        self.platform = platform
        self.forms = forms  # the platform can show a declaration form
        self.action_forms = action_forms  # ... and the other forms (`Reply.ask`, bot/forms.py)
        self.mention = mention
        self.channel_link = channel_link
        self.calendar_url = calendar_url  # a person's secret calendar feed, when feeds are on

    def person(self, user: str) -> Person | None:
        """The catalog's person behind a user id of this platform; None for a stranger."""
        catalog = self.ctx.catalog
        if self.platform.catalog_key is None:
            found = next((p for p in catalog.people if p.id == user), None)
            if found is not None:
                return found
        return catalog.person_by_chat_id(user)

    def actor(self, user: str) -> str:
        person = self.person(user)
        return person.id if person else user

    def require(self, user: str, verb: str, *,
                incident: Callable[[], str | None] = lambda: None) -> None:
        """Raise NotAllowed, saying why and what to do, unless `user` may do `verb`.
        `incident` names the incident concerned ("INC-4") for the refusal's words."""
        reason = access.may(self.ctx.catalog, self.person(user), verb)
        if reason is None:
            return
        key = self.platform.catalog_key
        fix = (f"an admin can add you to the catalog (under `people:`, "
               f"`- {{id: …, name: …, {key}: {user}}}`)" if key
               else "use `/as <person>` to act as someone in the catalog")
        raise access.NotAllowed(
            f"{reason[:1].upper()}{reason[1:]} ({self.platform.name} user {user}), so you cannot "
            f"{access.describe(verb, incident=incident())}. Ask an on-call engineer, or {fix}."
        )

    def handle(self, invocation: Invocation) -> Reply:
        """Find the entry, check the person may, read the arguments, run it."""
        entry, text = command_table.find(invocation.command, invocation.text)
        if self.action_forms and entry.form is not None and not after_ref(text) and (
                entry.verb_for(text) != access.ASK or self._may(invocation.user,
                                                                entry.verb_for(f"{text} form"))):
            # A bare command that reads (`status` shows the state) reads for whoever may not
            # fill its form in.
            return self._ask(entry, invocation, text)
        verb = entry.verb_for(text)
        if verb != access.ASK:
            self.require(invocation.user, verb, incident=lambda: self._ref(invocation, text))
        args = replace(entry.read(text, self.ctx.catalog), line=text)
        return entry.handler(self._call(invocation), args)

    def _may(self, user: str, verb: str) -> bool:
        return verb == access.ASK or access.may(self.ctx.catalog, self.person(user), verb) is None

    def _ask(self, entry: command_table.Command, invocation: Invocation, text: str) -> Reply:
        """The form of a command typed without its arguments (or its card's button)."""
        assert entry.form is not None
        verb = entry.verb_for(f"{text} form")  # the verb its submission will need
        if verb != access.ASK:  # say so now, not after the form is filled in
            self.require(invocation.user, verb, incident=lambda: self._ref(invocation, text))
        number, _ = split_ref(text)
        return Reply("", ask=entry.form.build(self._call(invocation), Args(incident=number)))

    def read_form(self, submission: Submission) -> Args:
        """The submitted form's answers as the arguments of its command; FormErrors per field
        (a person not in the catalog, a missing answer) while the form can still show them."""
        entry = command_table.entry(submission.command)
        assert entry.form is not None
        args = entry.form.read(submission.answers, self.person)
        return replace(args, incident=submission.incident)

    def submit(self, submission: Submission, args: Args) -> Reply:
        """Run the form's command with `args` (from `read_form`): the access check, handler and
        workflow of the typed command."""
        entry = command_table.entry(submission.command)
        invocation = Invocation(entry.words[0], text=args.line, user=submission.user,
                                channel=submission.channel)
        verb = entry.verb_for(args.line)
        if verb != access.ASK:
            self.require(submission.user, verb,
                         incident=lambda: f"INC-{args.incident}" if args.incident else None)
        return entry.handler(self._call(invocation), args)

    def oncall(self, query: str) -> Reply:
        """Who is on call for `query` (a team, service or schedule; everyone when empty), as
        asked in a message rather than a command: no subcommands."""
        entry = next(c for c in command_table.TABLE if c.words == ("oncall",))
        return entry.handler(self._call(Invocation("oncall", query, user="")),
                             entry.read(query, self.ctx.catalog))

    def _call(self, invocation: Invocation) -> Call:
        return Call(ctx=self.ctx, actor=self.actor(invocation.user), channel=invocation.channel,
                    forms=self.forms, mention=self.mention, channel_link=self.channel_link,
                    calendar_url=self.calendar_url,
                    platform=self.platform.catalog_key)  # "slack", "teams"; None: the console

    def _ref(self, invocation: Invocation, text: str) -> str | None:
        """The incident a command is about, for a refusal's words ("INC-4"), if it names one."""
        try:
            number = split_ref(text)[0]
        except InvalidRequest:
            return None
        number = number if number is not None else channel_incident(self.ctx, invocation.channel)
        return f"INC-{number}" if number is not None else None
