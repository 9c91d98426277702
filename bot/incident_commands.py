"""Replies of the `/incident` commands that run an incident: each calls one workflow and says what
happened. The routes are in `bot/command_table.py`; the rules in `workflows/incident/`."""

from __future__ import annotations

import re

from bot.invocation import Args, Call, DeclareForm, Reply
from bot.options import truthy
from workflows.incident import involve, lifecycle, queries, respond
from workflows.incident.bridge import set_bridge
from workflows.incident.declare import DeclareRequest, declare
from workflows.model import ROLES
from workflows.paging import clocks, escalation
from workflows.ports import InvalidRequest
from workflows.render import render

_FLAGS = ("security", "privacy", "compliance")


def declare_incident(call: Call, args: Args) -> Reply:
    options = args.options
    lowered = [w.lower() for w in args.words]
    drill = "drill" in lowered or truthy(options.get("drill"))
    flags: tuple[str, ...] = tuple(f for f in _FLAGS if f in lowered)
    flags += tuple(f for f in options.get("flags", "").split(",") if f)
    title = " ".join(w for w in args.words if w.lower() not in ("drill", *flags))
    if call.forms and "service" not in options:
        return Reply("", form=DeclareForm(title=title, drill=drill))
    missing = [k for k in ("service", "severity", "urgency") if k not in options]
    if missing:
        raise InvalidRequest(
            "declare needs " + ", ".join(f"{k}=..." for k in missing)
            + ", e.g. `/incident declare service=checkout severity=critical urgency=high Checkout down`"
        )
    incident = declare(call.ctx, DeclareRequest(
        title=title, service=options["service"], severity=options["severity"],
        urgency=options["urgency"], environment=options.get("environment", "production"),
        description=options.get("description", ""), security=truthy(options.get("security")),
        drill=drill, reporter=call.actor, flags=flags, platform=call.platform,
    ))
    where = f" in {call.channel_link(incident.channel)}" if incident.channel else (
        "; its channel is being created" if call.ctx.catalog.response_for(incident.priority).page
        else "")
    return Reply(f"Declared {incident.ref} ({incident.priority}){where}.", incident=incident)


def ack(call: Call, args: Args) -> Reply:
    incident = respond.acknowledge(call.ctx, incident_id=call.incident_id(args), person=call.actor)
    return Reply(f"You acknowledged {incident.ref}.", incident=incident)


def pass_on(call: Call, args: Args) -> Reply:
    people = escalation.escalate_now(call.ctx, incident_id=call.incident_id(args), actor=call.actor)
    if not people:
        return Reply("The escalation policy has no more steps: page someone with "
                     "`/incident page <team|@person>`.")
    return Reply(f"Escalated: paging {', '.join(call.ctx.display(p) or p for p in people)}.")


def snooze(call: Call, args: Args) -> Reply:
    what = respond.snooze(call.ctx, incident_id=call.incident_id(args), person=call.actor,
                          delay=args.text.strip() or None)
    return Reply(f"Snoozed {what}.")


def status(call: Call, args: Args) -> Reply:
    incident_id = call.incident_id(args)
    stage, _, text = args.text.partition(" ")
    if not stage:
        incident = queries.timeline(call.ctx, incident_id=incident_id)[0]
        return Reply(
            f"{incident.ref} {incident.priority} · {incident.state.value} · stage "
            f"{incident.stage.value} · commander {call.ctx.display(incident.commander) or 'none'}"
        )
    flags: set[str] = set()
    while (flag := _leading_flag(text)) is not None:  # the words after them stay as typed
        flags.add(flag.lower().removeprefix("--"))
        text = text.lstrip()[len(flag):]
    audience = ("internal", *(a for a in ("stakeholders", "public") if a in flags))
    respond.post_status(call.ctx, incident_id=incident_id, stage=stage, text=text.strip(),
                        author=call.actor, audience=audience)
    shared = [a for a in audience[1:]]
    return Reply("Status update posted" + (f" (also to {' and '.join(shared)})" if shared else "")
                 + ".")


# `/incident status identified --stakeholders --public <text>`: who else reads the update.
AUDIENCE_FLAGS = frozenset({"--stakeholders", "--public"})


def _leading_flag(text: str) -> str | None:
    first = text.lstrip().split(maxsplit=1)[:1]
    return first[0] if first and first[0].lower() in AUDIENCE_FLAGS else None


def severity(call: Call, args: Args) -> Reply:
    incident = lifecycle.retriage(call.ctx, incident_id=call.incident_id(args), actor=call.actor,
                                  severity=args.text.lower(),
                                  priority=args.options.get("priority"))  # the form's override
    return Reply(f"{incident.ref} is now {incident.priority}.")


def priority(call: Call, args: Args) -> Reply:
    incident = lifecycle.retriage(call.ctx, incident_id=call.incident_id(args), actor=call.actor,
                                  priority=args.text.upper())
    return Reply(f"{incident.ref} is now {incident.priority}.")


def role(call: Call, args: Args) -> Reply:
    incident_id = call.incident_id(args)
    role_name, who = args.words[0].lower(), args.words[1]
    person = call.ctx.catalog.find_person(who)
    respond.set_role(call.ctx, incident_id=incident_id, role=role_name, person=person.id,
                     actor=call.actor)
    return Reply(f"{ROLES[role_name]}: {person.name}.")


def page(call: Call, args: Args) -> Reply:
    incident_id = call.incident_id(args)
    people = [person for target in args.words or (args.text,)  # the form: people and a team
              for person in involve.page_now(call.ctx, incident_id=incident_id, target=target,
                                             actor=call.actor)]
    return Reply("Paged " + ", ".join(str(call.ctx.display(p)) for p in people) + ".")


def escalate(call: Call, args: Args) -> Reply:
    group, _, reason = args.text.partition(" ")
    people = involve.escalate_to_group(call.ctx, incident_id=call.incident_id(args), group=group,
                                       reason=reason, actor=call.actor)
    return Reply(f"Escalated to {group}: " + ", ".join(str(call.ctx.display(p)) for p in people) + ".")


def reassign(call: Call, args: Args) -> Reply:
    incident = involve.reassign(call.ctx, incident_id=call.incident_id(args), target=args.text,
                                actor=call.actor)
    return Reply(f"{incident.ref} reassigned to {args.text}.")


def notified(call: Call, args: Args) -> Reply:
    incident = clocks.mark_notified(call.ctx, incident_id=call.incident_id(args),
                                    clock_id=args.text, actor=call.actor)
    return Reply(f"{args.text} marked done for {incident.ref}.")


def mitigate(call: Call, args: Args) -> Reply:
    incident = lifecycle.mitigate(call.ctx, incident_id=call.incident_id(args), actor=call.actor)
    return Reply(f"{incident.ref} marked mitigated.")


def resolve(call: Call, args: Args) -> Reply:
    incident = lifecycle.resolve(call.ctx, incident_id=call.incident_id(args), actor=call.actor)
    return Reply(f"{incident.ref} resolved.", incident=incident)


def reopen(call: Call, args: Args) -> Reply:
    incident = lifecycle.reopen(call.ctx, incident_id=call.incident_id(args), actor=call.actor)
    return Reply(f"{incident.ref} reopened.")


def close(call: Call, args: Args) -> Reply:
    incident = lifecycle.close(call.ctx, incident_id=call.incident_id(args), actor=call.actor)
    return Reply(f"{incident.ref} closed.")


def note(call: Call, args: Args) -> Reply:
    respond.add_note(call.ctx, incident_id=call.incident_id(args), text=args.text, actor=call.actor)
    return Reply("Noted in the timeline.")


def bridge(call: Call, args: Args) -> Reply:
    url = args.text.strip()
    # Slack sends a typed link as <https://...> or <https://...|label>.
    url = re.sub(r"^<([^|>]+)(?:\|[^>]*)?>$", r"\1", url)
    incident = set_bridge(call.ctx, incident_id=call.incident_id(args), url=url, actor=call.actor)
    return Reply(f"The bridge of {incident.ref} is now {incident.bridge}.", incident=incident)


def timeline(call: Call, args: Args) -> Reply:
    incident, events = queries.timeline(call.ctx, incident_id=call.incident_id(args))
    return Reply(render("timeline", incident=incident, events=events,
                        zone=call.ctx.catalog.timezone))


def open_list(call: Call, args: Args) -> Reply:
    incidents = queries.open_incidents(call.ctx)
    return Reply(render("incident_list", incidents=incidents, channel=call.channel_link))
