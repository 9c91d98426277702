"""Every chat command, once: its words, usage, who may run it, how its arguments are read, the
workflow it calls and the reply. Slack, Teams and the console share this table (through
`bot.commands.Commands`), and `/incident help` is printed from it.

To find the rule behind a command, grep its words here, e.g. `("incident", "ack")`: the entry
names the reply function in `bot/*_commands.py`, which calls the workflow it names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot import command_forms as forms
from bot import followup_commands as followup
from bot import incident_commands as incident
from bot import intake_commands as intake
from bot import oncall_commands as oncall
from bot import parsers
from bot import subscription_commands as following
from bot.incident_ids import after_ref
from bot.invocation import Args, Call, Reply
from workflows import access, stakeholders
from workflows.catalog.model import Catalog
from workflows.followup import actions as action_items
from workflows.followup import postmortem as postmortems
from workflows.incident import commander, involve, lifecycle, queries, respond
from workflows.incident.bridge import set_bridge
from workflows.incident.declare import declare
from workflows.intake.report import report
from workflows.model import ROLES
from workflows.oncall import changes
from workflows.oncall.report import oncall_hours
from workflows.paging import clocks, escalation
from workflows.paging.report import report_for
from workflows.ports import InvalidRequest
from workflows.render import render

ASK = access.ASK
Verb = str | Callable[[str], str]  # an access verb, or one chosen from the argument text
Handler = Callable[[Call, Args], Reply]


@dataclass(frozen=True)
class Command:
    words: tuple[str, ...]  # ("incident", "ack"): what a person types, without the slash
    usage: str  # "`/incident ack [INC-n]`"; `{severities}`, `{roles}`, `{groups}` from the catalog
    summary: str  # one line for help
    verb: Verb  # workflows/access.py: ASK to read, else the verb a person must be allowed
    parse: parsers.Parser  # the text after the words -> Args, or InvalidRequest with the usage
    handler: Handler  # calls `workflow` with the Args and renders the Reply
    workflow: Callable[..., object] | None  # the rule behind the command (None: help)
    hint: str = ""  # added to a usage error, e.g. ", e.g. `/oncall cover 2h`"
    form: forms.FormSpec | None = None  # asked for instead when typed bare, where forms show

    def usage_line(self, catalog: Catalog) -> str:
        return self.usage.format(
            severities="|".join(catalog.priorities.matrix), roles="|".join(ROLES),
            groups="|".join(catalog.escalation_groups) or "group",
        )

    def verb_for(self, text: str) -> str:
        return self.verb if isinstance(self.verb, str) else self.verb(text)

    def read(self, text: str, catalog: Catalog) -> Args:
        """The arguments in `text`; InvalidRequest with the usage line when they do not fit."""
        return self.parse(text, self.usage_line(catalog) + self.hint, catalog)


def _status_verb(text: str) -> str:  # `status` alone shows it; with a stage, posts one
    return "status" if after_ref(text) else ASK


def _postmortem_verb(text: str) -> str:  # `postmortem status` reads
    return ASK if after_ref(text).lower() == "status" else "postmortem"


def _help(call: Call, args: Args) -> Reply:
    return Reply(help_text(call.ctx.catalog))


# fmt: off
TABLE: tuple[Command, ...] = (
    # running an incident (bot/incident_commands.py -> workflows/incident/)
    Command(("incident", "declare"), "`/incident declare [title]`",
            "open the form to declare an incident (add `drill` to practise, "
            "`security`/`privacy`/`compliance` to start notification clocks)",
            "declare", parsers.options, incident.declare_incident, declare),
    Command(("incident", "ack"), "`/incident ack`", "acknowledge the page for this channel's incident",
            "acknowledge", parsers.incident, incident.ack, respond.acknowledge),
    Command(("incident", "pass"), "`/incident pass`",
            "hand a page on: the next escalation step is paged now (the page's Escalate button)",
            "acknowledge", parsers.incident, incident.pass_on, escalation.escalate_now),
    Command(("incident", "snooze"), "`/incident snooze [5m]`",
            "while paged: the escalation waits (5m, at most 30m in all); once acknowledged: the "
            "update reminders wait (30m)",
            "acknowledge", parsers.incident, incident.snooze, respond.snooze),
    Command(("incident", "status"), "`/incident status <Investigating|Identified|Monitoring|Resolved> <text>`",
            "post a status update (alone: show the incident's status)",
            _status_verb, parsers.incident, incident.status, respond.post_status, form=forms.STATUS),
    Command(("incident", "severity"), "`/incident severity <{severities}>`", "change the severity",
            "severity", parsers.incident_then, incident.severity, lifecycle.retriage,
            form=forms.SEVERITY),
    Command(("incident", "priority"), "`/incident priority <P1|P2|P3|P4>`", "change the priority",
            "priority", parsers.incident_then, incident.priority, lifecycle.retriage,
            form=forms.SEVERITY),
    Command(("incident", "role"), "`/incident role <{roles}> @person`", "assign a role",
            "role", parsers.incident_words(2), incident.role, respond.set_role, form=forms.ROLE),
    Command(("incident", "page"), "`/incident page <team|@person>`", "page someone now",
            "page", parsers.incident_then, incident.page, involve.page_now, form=forms.PAGE),
    Command(("incident", "reassign"), "`/incident reassign <team|@person>`",
            "hand the incident to another team or person",
            "reassign", parsers.incident_then, incident.reassign, involve.reassign),
    Command(("incident", "escalate"), "`/incident escalate <{groups}> <reason>`",
            "bring in legal, security, executives … for a decision",
            "escalate", parsers.incident_then, incident.escalate, involve.escalate_to_group,
            form=forms.ESCALATE),
    Command(("incident", "notified"), "`/incident notified <clock>`",
            "a notification clock's notice was sent",
            "notified", parsers.incident_then, incident.notified, clocks.mark_notified,
            hint=" once the notice was sent"),
    Command(("incident", "mitigate"), "`/incident mitigate`", "mark the incident mitigated",
            "mitigate", parsers.incident, incident.mitigate, lifecycle.mitigate),
    Command(("incident", "resolve"), "`/incident resolve`", "resolve the incident",
            "resolve", parsers.incident, incident.resolve, lifecycle.resolve),
    Command(("incident", "reopen"), "`/incident reopen`", "reopen a resolved incident",
            "reopen", parsers.incident, incident.reopen, lifecycle.reopen),
    Command(("incident", "close"), "`/incident close`", "close a resolved incident",
            "close", parsers.incident, incident.close, lifecycle.close),
    Command(("incident", "note"), "`/incident note <text>`", "add to the timeline",
            "note", parsers.incident, incident.note, respond.add_note),
    Command(("incident", "bridge"), "`/incident bridge <url>`",
            "set or replace the incident's conference bridge (topic, bookmark, card)",
            "bridge", parsers.incident_then, incident.bridge, set_bridge,
            hint=", e.g. `/incident bridge https://meet.jit.si/inc-42`"),
    Command(("incident", "timeline"), "`/incident timeline`", "show the timeline",
            ASK, parsers.incident, incident.timeline, queries.timeline),
    Command(("incident", "list"), "`/incident list`", "open incidents",
            ASK, parsers.nothing, incident.open_list, queries.open_incidents),
    # follow-up (bot/followup_commands.py -> workflows/followup/)
    Command(("incident", "handoff"), "`/incident handoff @next-commander`",
            "hand the commander role over with a summary",
            "handoff", parsers.incident_then, followup.handoff, commander.handoff),
    Command(("incident", "postmortem"), "`/incident postmortem [draft|review|publish|reopen|status]`",
            "draft the postmortem from the timeline, or move it on",
            _postmortem_verb, parsers.incident_choice("", "draft", "review", "publish", "reopen", "status"),
            followup.postmortem, postmortems.draft_postmortem),
    Command(("incident", "review"), "`/incident review <review|publish> [note]`",
            "mark the postmortem reviewed or published, with a note for the record (alone: a form)",
            "postmortem", parsers.incident_then, followup.review, postmortems.change_state,
            form=forms.REVIEW),
    Command(("incident", "action"), '`/incident action "<what>" @owner due <date>`',
            "add an action item (date: 2026-12-01, tomorrow, 3d, fri)",
            "action", parsers.action_item, followup.action, action_items.add_action,
            form=forms.ACTION),
    Command(("incident", "action", "done"), "`/incident action done <id>`", "complete an action item",
            "action", parsers.number, followup.action_done, action_items.complete_action,
            hint=" (e.g. AI-3)"),
    Command(("incident", "actions"), "`/incident actions [mine|team|all]`", "open action items",
            ASK, parsers.rest, followup.actions, action_items.open_actions),
    Command(("incident", "cause"), "`/incident cause <tag>`", "tag the cause (repeat incidents are linked)",
            "cause", parsers.incident, followup.cause, postmortems.tag_cause),
    # signals from people (bot/intake_commands.py -> workflows/intake/)
    Command(("incident", "report"),
            "`/incident report [service=<id>] [severity=...] [urgency=...] [environment=...] <what is wrong>`",
            "report a problem: triaged like any signal",
            "report", parsers.labelled("service", "severity", "urgency", "environment"),
            intake.report, report),
    Command(("incident", "unrouted"), "`/incident unrouted`", "signals no service matched",
            ASK, parsers.nothing, intake.unrouted, None),
    # following updates by email and chat (bot/subscription_commands.py -> workflows/stakeholders.py)
    Command(("incident", "subscribe"), "`/incident subscribe [INC-n]`",
            "follow an incident's updates (email and a direct message)",
            ASK, parsers.incident, following.follow_incident, stakeholders.subscribe),
    Command(("incident", "unsubscribe"), "`/incident unsubscribe [INC-n]`", "stop following it",
            ASK, parsers.incident, following.unfollow_incident, stakeholders.unsubscribe),
    Command(("incident", "help"), "`/incident help`", "this text", ASK, parsers.nothing, _help, None),
    # who is on call, and changes to schedules (bot/oncall_commands.py -> workflows/oncall/)
    Command(("oncall",), "`/oncall [team|service|schedule]`", "who is on call now and next, per layer",
            ASK, parsers.rest, oncall.who, queries.who_is_on_call),
    Command(("oncall", "calendar"), "`/oncall calendar`", "your shifts as a calendar feed",
            ASK, parsers.nothing, oncall.calendar, None),
    Command(("oncall", "override"), "`/oncall override [schedule] @person <from> <to>`",
            "put someone on call for a while",
            "schedule", parsers.schedule_then(3), oncall.override, changes.add_override,
            hint=" (times like `18:00`, `2026-12-24T18:00`, `now`; `<to>` may be a duration like `2h`)"),
    Command(("oncall", "swap"), "`/oncall swap [schedule] [<from> <to>]`",
            "offer your shift to your team (default: your next shift)",
            "schedule", parsers.schedule_then(0, 2), oncall.swap, changes.offer),
    Command(("oncall", "cover"), "`/oncall cover [schedule] <duration>`", "ask your team to cover you",
            "schedule", parsers.schedule_then(1), oncall.cover, changes.offer,
            hint=", e.g. `/oncall cover 2h`"),
    Command(("oncall", "take"), "`/oncall take <offer number>`", "take a swap or cover offer",
            "schedule", parsers.number, oncall.take, changes.take),
    Command(("oncall", "history"), "`/oncall history <schedule>`", "a schedule's versions",
            ASK, parsers.schedule_then(), oncall.history, changes.history),
    Command(("oncall", "undo"), "`/oncall undo <schedule>`", "bring a schedule's previous version back",
            "schedule", parsers.schedule_then(named=True), oncall.undo, changes.undo),
    Command(("oncall", "report"), "`/oncall report [team|schedule] [YYYY-MM]`",
            "on-call hours and schedule gaps (default: this month so far)",
            ASK, parsers.month_and_query, oncall.report, oncall_hours),
    Command(("oncall", "subscribe"), "`/oncall subscribe <service>`",
            "follow the stakeholder updates of a service's incidents",
            ASK, parsers.rest, following.follow_service, stakeholders.subscribe),
    Command(("oncall", "unsubscribe"), "`/oncall unsubscribe <service>`", "stop following a service",
            ASK, parsers.rest, following.unfollow_service, stakeholders.unsubscribe),
    Command(("oncall", "subscriptions"), "`/oncall subscriptions`", "what you follow",
            ASK, parsers.nothing, following.followed, stakeholders.subscriptions),
    Command(("oncall", "pages"), "`/oncall pages [7d]`",
            "the paging report: pages per person and night, bad nights (default: 30 days)",
            ASK, parsers.rest, oncall.pages, report_for),
)
# fmt: on


def find(command: str, text: str) -> tuple[Command, str]:
    """The entry for `/<command> <text>` (the one with the most words matching, case aside) and
    the text after its words; InvalidRequest for an unknown `/incident` subcommand."""
    typed = [command.lower(), *(w.lower() for w in text.split())]
    if command.lower() == "incident" and len(typed) == 1:
        typed.append("help")
    matches = [c for c in TABLE if tuple(typed[: len(c.words)]) == c.words]
    if not matches:
        raise InvalidRequest(
            f"unknown command '/{command} {typed[1] if len(typed) > 1 else ''}'. "
            f"Try `/{command} help`.")
    entry = max(matches, key=lambda c: len(c.words))
    rest = text
    for _ in entry.words[1:]:
        _, _, rest = rest.strip().partition(" ")
    return entry, rest.strip()


def entry(words: str) -> Command:
    """The entry whose words are `words` ("incident status"): where a submitted form goes."""
    found = next((c for c in TABLE if " ".join(c.words) == words), None)
    if found is None or found.form is None:
        raise InvalidRequest(f"this form's command '{words[:40]}' is not one Firebell knows")
    return found


def help_text(catalog: Catalog) -> str:
    """`/incident help`: every entry of the table, one line each."""
    lines = [(c.usage_line(catalog), c.summary, c.words[0]) for c in TABLE]
    return render("help", incident=[(u, s) for u, s, w in lines if w == "incident"],
                  oncall=[(u, s) for u, s, w in lines if w == "oncall"])


def incident_verb(sub: str, rest: str) -> str:
    """The access verb of `/incident <sub> <rest>`."""
    entry, text = find("incident", f"{sub} {rest}")
    return entry.verb_for(text)
