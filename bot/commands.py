"""The words of `/incident` and `/oncall`, shared by Slack, Teams and the console.

It parses a command line into one workflow call and renders the answer; process rules stay in
`workflows/`.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field

from bot import followup_commands, intake_commands, oncall_commands
from bot.incident_ids import incident_number
from workflows import access
from workflows.catalog.model import Person
from workflows.context import Context
from workflows.incident import involve, lifecycle, queries, respond
from workflows.incident.declare import DeclareRequest, declare
from workflows.model import ROLES, Incident
from workflows.paging import clocks
from workflows.ports import InvalidRequest
from workflows.render import render


@dataclass(frozen=True)
class Invocation:
    command: str  # "incident" or "oncall"
    text: str  # what follows the command
    user: str  # the platform's user id
    channel: str | None = None  # where it was typed


@dataclass(frozen=True)
class DeclareForm:
    """Ask the person for the declaration's fields (a Slack modal, a Teams card)."""

    title: str
    drill: bool = False
    service: str | None = None


@dataclass
class Reply:
    text: str
    public: bool = False  # posted in the channel rather than shown only to the person
    form: DeclareForm | None = None
    incident: Incident | None = None
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Platform:
    """Where commands come from, and what a user id there is."""

    name: str  # for messages: "Slack user U123"
    catalog_key: str | None  # the person's catalog key holding this platform's id; None: a person id


SLACK = Platform("Slack", "slack")
TEAMS = Platform("Teams", "teams")
CONSOLE = Platform("console", None)  # the sandbox: its user is a catalog person's id

_INCIDENT_ID = re.compile(r"^(?:#|INC-)?(\d+)$", re.IGNORECASE)


class Commands:
    """Turns a chat command into a workflow call."""

    def __init__(
        self,
        ctx: Context,
        *,
        forms: bool,
        mention: Callable[[str], str] = lambda person: person,
        channel_link: Callable[[str], str] = lambda channel: channel,
        calendar_url: Callable[[str], str | None] = lambda person: None,
        platform: Platform = CONSOLE,
    ) -> None:
        self.ctx = ctx
        self.platform = platform
        self.forms = forms  # the platform can show a declaration form
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
        if invocation.command == "oncall":
            return self.oncall(invocation.text, user=invocation.user)
        words = invocation.text.strip().split(None, 1)
        sub = words[0].lower() if words else "help"
        rest = words[1] if len(words) > 1 else ""
        handler = getattr(self, f"_cmd_{sub}", None)
        if handler is None:
            raise InvalidRequest(f"unknown command '/incident {sub}'. Try `/incident help`.")
        verb = _incident_verb(sub, rest)
        if verb != access.ASK:
            self.require(invocation.user, verb, incident=lambda: self._ref(invocation, rest))
        reply: Reply = handler(invocation, rest)
        return reply

    # who is on call ------------------------------------------------------
    def oncall(self, query: str, *, user: str | None = None) -> Reply:
        sub, _, rest = query.strip().partition(" ")
        if user is not None and sub.lower() == "calendar":
            url = self.calendar_url(self.actor(user))
            if url is None:
                return Reply("Calendar feeds are off: an operator sets FIREBELL_CALENDAR_SECRET "
                             "and PUBLIC_URL to turn them on.")
            return Reply(f"Your on-call shifts as a calendar (keep the link to yourself): {url}")
        if user is not None and sub.lower() in oncall_commands.SUBCOMMANDS:  # a change, by someone
            if sub.lower() not in _ONCALL_ASKING:
                self.require(user, "schedule")
            return Reply(oncall_commands.run(self.ctx, sub.lower(), rest, actor=self.actor(user),
                                             mention=self.mention))
        catalog = self.ctx.catalog
        answers = queries.who_is_on_call(catalog, query=query.strip() or None, at=self.ctx.now())

        def names(people: list[str]) -> str:
            return ", ".join(self.mention(p) for p in people)

        text = render("oncall", answers=answers, names=names, zone=catalog.timezone)
        return Reply(text or "No schedules in the catalog.")

    # incident subcommands ---------------------------------------------------
    def _cmd_help(self, inv: Invocation, rest: str) -> Reply:
        return Reply(render("help"))

    def _cmd_declare(self, inv: Invocation, rest: str) -> Reply:
        options, words = _options(rest)
        lowered = [w.lower() for w in words]
        drill = "drill" in lowered or options.get("drill") in ("1", "yes", "true")
        flags: tuple[str, ...] = tuple(
            f for f in ("security", "privacy", "compliance") if f in lowered
        )
        flags += tuple(f for f in options.get("flags", "").split(",") if f)
        title = " ".join(w for w in words if w.lower() not in ("drill", *flags))
        if self.forms and "service" not in options:
            return Reply("", form=DeclareForm(title=title, drill=drill))
        missing = [k for k in ("service", "severity", "urgency") if k not in options]
        if missing:
            raise InvalidRequest(
                "declare needs " + ", ".join(f"{k}=..." for k in missing)
                + ", e.g. `/incident declare service=checkout severity=critical urgency=high Checkout down`"
            )
        incident = declare(self.ctx, DeclareRequest(
            title=title, service=options["service"], severity=options["severity"],
            urgency=options["urgency"], environment=options.get("environment", "production"),
            description=options.get("description", ""),
            security=options.get("security", "no").lower() in ("1", "yes", "true"),
            drill=drill, reporter=self.actor(inv.user), flags=flags,
        ))
        where = f" in {self.channel_link(incident.channel)}" if incident.channel else (
            "; its channel is being created" if self.ctx.catalog.response_for(incident.priority).page
            else "")
        return Reply(f"Declared {incident.ref} ({incident.priority}){where}.", incident=incident)

    def _cmd_ack(self, inv: Invocation, rest: str) -> Reply:
        incident = respond.acknowledge(
            self.ctx, incident_id=self._incident(inv, rest), person=self.actor(inv.user)
        )
        return Reply(f"You acknowledged {incident.ref}.", incident=incident)

    def _cmd_status(self, inv: Invocation, rest: str) -> Reply:
        incident_id, rest = self._incident_and_rest(inv, rest)
        stage, _, text = rest.partition(" ")
        if not stage:
            incident = queries.timeline(self.ctx, incident_id=incident_id)[0]
            return Reply(
                f"{incident.ref} {incident.priority} · {incident.state.value} · stage "
                f"{incident.stage.value} · commander {self.ctx.display(incident.commander) or 'none'}"
            )
        respond.post_status(self.ctx, incident_id=incident_id, stage=stage, text=text.strip(),
                            author=self.actor(inv.user))
        return Reply("Status update posted.")

    def _cmd_severity(self, inv: Invocation, rest: str) -> Reply:
        incident_id, severity = self._incident_and_rest(inv, rest)
        if not severity:
            raise InvalidRequest("usage: `/incident severity <" + "|".join(self.ctx.catalog.priorities.matrix) + ">`")
        incident = lifecycle.retriage(self.ctx, incident_id=incident_id, actor=self.actor(inv.user),
                                      severity=severity.strip().lower())
        return Reply(f"{incident.ref} is now {incident.priority}.")

    def _cmd_priority(self, inv: Invocation, rest: str) -> Reply:
        incident_id, priority = self._incident_and_rest(inv, rest)
        if not priority:
            raise InvalidRequest("usage: `/incident priority <P1|P2|P3|P4>`")
        incident = lifecycle.retriage(self.ctx, incident_id=incident_id, actor=self.actor(inv.user),
                                      priority=priority.strip().upper())
        return Reply(f"{incident.ref} is now {incident.priority}.")

    def _cmd_role(self, inv: Invocation, rest: str) -> Reply:
        incident_id, rest = self._incident_and_rest(inv, rest)
        parts = rest.split()
        if len(parts) != 2:
            raise InvalidRequest("usage: `/incident role <" + "|".join(ROLES) + "> @person`")
        person = self.ctx.catalog.find_person(parts[1])
        respond.set_role(self.ctx, incident_id=incident_id, role=parts[0].lower(),
                         person=person.id, actor=self.actor(inv.user))
        return Reply(f"{ROLES[parts[0].lower()]}: {person.name}.")

    def _cmd_page(self, inv: Invocation, rest: str) -> Reply:
        incident_id, target = self._incident_and_rest(inv, rest)
        if not target:
            raise InvalidRequest("usage: `/incident page <team|@person>`")
        people = involve.page_now(self.ctx, incident_id=incident_id, target=target.strip(),
                                  actor=self.actor(inv.user))
        return Reply("Paged " + ", ".join(str(self.ctx.display(p)) for p in people) + ".")

    def _cmd_escalate(self, inv: Invocation, rest: str) -> Reply:
        incident_id, rest = self._incident_and_rest(inv, rest)
        group, _, reason = rest.partition(" ")
        if not group:
            groups = "|".join(self.ctx.catalog.escalation_groups) or "group"
            raise InvalidRequest(f"usage: `/incident escalate <{groups}> <reason>`")
        people = involve.escalate_to_group(self.ctx, incident_id=incident_id, group=group,
                                           reason=reason, actor=self.actor(inv.user))
        return Reply(f"Escalated to {group}: " + ", ".join(str(self.ctx.display(p)) for p in people) + ".")

    def _cmd_reassign(self, inv: Invocation, rest: str) -> Reply:
        incident_id, target = self._incident_and_rest(inv, rest)
        if not target:
            raise InvalidRequest("usage: `/incident reassign <team|@person>`")
        incident = involve.reassign(self.ctx, incident_id=incident_id, target=target.strip(),
                                    actor=self.actor(inv.user))
        return Reply(f"{incident.ref} reassigned to {target.strip()}.")

    def _cmd_notified(self, inv: Invocation, rest: str) -> Reply:
        incident_id, clock = self._incident_and_rest(inv, rest)
        if not clock:
            raise InvalidRequest("usage: `/incident notified <clock>` once the notice was sent")
        incident = clocks.mark_notified(self.ctx, incident_id=incident_id, clock_id=clock.strip(),
                                        actor=self.actor(inv.user))
        return Reply(f"{clock.strip()} marked done for {incident.ref}.")

    def _cmd_mitigate(self, inv: Invocation, rest: str) -> Reply:
        incident = lifecycle.mitigate(self.ctx, incident_id=self._incident(inv, rest),
                                      actor=self.actor(inv.user))
        return Reply(f"{incident.ref} marked mitigated.")

    def _cmd_resolve(self, inv: Invocation, rest: str) -> Reply:
        incident = lifecycle.resolve(self.ctx, incident_id=self._incident(inv, rest),
                                     actor=self.actor(inv.user))
        return Reply(f"{incident.ref} resolved.", incident=incident)

    def _cmd_reopen(self, inv: Invocation, rest: str) -> Reply:
        incident = lifecycle.reopen(self.ctx, incident_id=self._incident(inv, rest),
                                    actor=self.actor(inv.user))
        return Reply(f"{incident.ref} reopened.")

    def _cmd_close(self, inv: Invocation, rest: str) -> Reply:
        incident = lifecycle.close(self.ctx, incident_id=self._incident(inv, rest),
                                   actor=self.actor(inv.user))
        return Reply(f"{incident.ref} closed.")

    def _cmd_note(self, inv: Invocation, rest: str) -> Reply:
        incident_id, text = self._incident_and_rest(inv, rest)
        respond.add_note(self.ctx, incident_id=incident_id, text=text, actor=self.actor(inv.user))
        return Reply("Noted in the timeline.")

    def _cmd_timeline(self, inv: Invocation, rest: str) -> Reply:
        incident, events = queries.timeline(self.ctx, incident_id=self._incident(inv, rest))
        zone = self.ctx.catalog.timezone
        return Reply(render("timeline", incident=incident, events=events, zone=zone))

    def _cmd_list(self, inv: Invocation, rest: str) -> Reply:
        incidents = queries.open_incidents(self.ctx)
        return Reply(render("incident_list", incidents=incidents, channel=self.channel_link))

    def _cmd_report(self, inv: Invocation, rest: str) -> Reply:
        return Reply(intake_commands.report(self.ctx, actor=self.actor(inv.user), text=rest))

    def _cmd_unrouted(self, inv: Invocation, rest: str) -> Reply:
        return Reply(intake_commands.unrouted(self.ctx))

    # postmortems, action items, handoff (bot/followup_commands.py) -------------
    def _cmd_postmortem(self, inv: Invocation, rest: str) -> Reply:
        incident_id, rest = self._incident_and_rest(inv, rest)
        return Reply(followup_commands.postmortem(self.ctx, incident_id, rest,
                                                  actor=self.actor(inv.user)))

    def _cmd_action(self, inv: Invocation, rest: str) -> Reply:
        if rest.strip().lower().startswith("done"):
            return Reply(followup_commands.action_done(self.ctx, rest, actor=self.actor(inv.user)))
        incident_id, rest = self._incident_and_rest(inv, rest)
        return Reply(followup_commands.action(self.ctx, incident_id, rest,
                                              actor=self.actor(inv.user)))

    def _cmd_actions(self, inv: Invocation, rest: str) -> Reply:
        return Reply(followup_commands.actions(self.ctx, rest, actor=self.actor(inv.user),
                                               channel=inv.channel, mention=self.mention))

    def _cmd_handoff(self, inv: Invocation, rest: str) -> Reply:
        incident_id, rest = self._incident_and_rest(inv, rest)
        return Reply(followup_commands.handoff(self.ctx, incident_id, rest,
                                               actor=self.actor(inv.user)))

    def _cmd_cause(self, inv: Invocation, rest: str) -> Reply:
        incident_id, rest = self._incident_and_rest(inv, rest)
        return Reply(followup_commands.cause(self.ctx, incident_id, rest,
                                             actor=self.actor(inv.user)))

    # helpers ---------------------------------------------------------------
    def _ref(self, inv: Invocation, rest: str) -> str | None:
        """The incident a command is about, for a refusal's words ("INC-4"), if it names one."""
        try:
            return f"INC-{self._incident(inv, rest)}"
        except InvalidRequest:
            return None

    def _incident(self, inv: Invocation, rest: str) -> int:
        return self._incident_and_rest(inv, rest)[0]

    def _incident_and_rest(self, inv: Invocation, rest: str) -> tuple[int, str]:
        """The incident named first (`12`, `#12`, `INC-12`), else the one of this channel."""
        first, _, remainder = rest.strip().partition(" ")
        number = incident_number(first)
        if number is not None:
            return number, remainder.strip()
        if inv.channel:
            with self.ctx.store.transaction() as tx:
                incident = tx.incident_by_channel(inv.channel)
            if incident is not None:
                assert incident.id is not None
                return incident.id, rest.strip()
        raise InvalidRequest(
            "which incident? Run this in the incident's channel or name it, e.g. `INC-12`."
        )


# Subcommands that only read; every other one is an access verb (workflows/access.py) of the
# same name, apart from these.
_ASKING = {"help", "list", "timeline", "unrouted", "actions"}
_VERB_OF = {"ack": "acknowledge"}
_ONCALL_ASKING = {"history", "report"}  # the other `/oncall` subcommands change a schedule


def _incident_verb(sub: str, rest: str) -> str:
    """The access verb of `/incident <sub> <rest>`."""
    first, _, remainder = rest.strip().partition(" ")
    after_ref = remainder.strip() if _INCIDENT_ID.match(first) else rest.strip()
    if sub in _ASKING:
        return access.ASK
    if sub == "status" and not after_ref:  # `status` alone shows it; with a stage, posts one
        return access.ASK
    if sub == "postmortem" and after_ref.lower() == "status":
        return access.ASK
    return _VERB_OF.get(sub, sub)


def _options(text: str) -> tuple[dict[str, str], list[str]]:
    """`key=value` options and the remaining words."""
    try:
        tokens = shlex.split(text)
    except ValueError:
        tokens = text.split()
    options = {}
    words = []
    for token in tokens:
        key, sep, value = token.partition("=")
        if sep and key.isidentifier():
            options[key.lower()] = value
        else:
            words.append(token)
    return options, words
