"""Handoff for long incidents: a reminder after `handoff_after`, and `/incident handoff @next`
posting what we know, what we tried and what is next (drawn from the timeline) before the
commander role moves."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from workflows.context import Context, record
from workflows.incident.respond import set_role
from workflows.model import Incident, TimelineEvent
from workflows.ports import InvalidRequest, Message
from workflows.render import render
from workflows.unit import Unit

_NEXT = re.compile(r"^\s*(?:next|todo|to do|plan|action)\s*[:\-]\s*", re.IGNORECASE)
_TRIED_KINDS = ("mitigated", "escalated", "manual_page", "priority_changed", "reopened")


@dataclass(frozen=True)
class Handoff:
    incident: Incident
    summary: str
    previous: str | None


def handoff(ctx: Context, *, incident_id: int, to: str, actor: str) -> Handoff:
    """Post the handoff summary, send it to the next commander, then move the role."""
    person = ctx.catalog.find_person(to)
    with ctx.unit() as uow:
        incident = uow.incidents.get_incident(incident_id, for_update=True)
        if not incident.is_open:
            raise InvalidRequest(f"{incident.ref} is {incident.state.value}: nothing to hand off")
        previous = incident.commander
        if previous == person.id:
            raise InvalidRequest(f"{person.name} is the commander already")
        summary = summarize(ctx, uow, incident, to=person.id)
        record(uow, incident, kind="handoff", at=ctx.now(), actor=actor,
               text=f"commander {ctx.display(previous) or 'none'} → {person.name}",
               data={"from": previous, "to": person.id})
        uow.post(incident, Message(summary))
        assert incident.id is not None
        uow.send_direct(person=person.id, message=Message(summary),
                        incident_id=incident.id)
    incident = set_role(ctx, incident_id=incident_id, role="commander", person=person.id,
                        actor=actor)
    return Handoff(incident, summary, previous)


def summarize(ctx: Context, uow: Unit, incident: Incident, *, to: str) -> str:
    assert incident.id is not None
    events = uow.timeline.events(incident.id)
    updates = [e for e in events if e.kind == "status_update"]
    moments = [e for e in events if e.kind in ("key_moment", "pinned")]
    notes = [e for e in events if e.kind in ("note", "message") and not e.data.get("deleted")]
    tried = [e for e in events if e.kind in _TRIED_KINDS] + [
        e for e in notes if e.kind == "note" and not _NEXT.match(e.text)
    ]
    upcoming = [_NEXT.sub("", e.text) for e in notes if _NEXT.match(e.text)]
    actions = uow.followups.actions(incident_id=incident.id)
    return render(
        "handoff", incident=incident, zone=ctx.catalog.timezone, to=ctx.display(to),
        commander=ctx.display(incident.commander), updates=updates[-3:],
        moments=[_line(ctx, e) for e in moments], tried=[_line(ctx, e) for e in sorted(
            tried, key=lambda e: e.at)], upcoming=upcoming, actions=actions,
        since=incident.declared_at,
    )


def remind_handoffs(ctx: Context) -> int:
    """Commanders of incidents open longer than `handoff_after` (since the last handoff) are
    reminded once per stretch. Only incidents (a paging priority: P1/P2), not tickets: a P3/P4
    waits in a queue, with no commander on a shift to hand over."""
    after = timedelta(seconds=ctx.catalog.handoff_after.seconds)
    now = ctx.now()
    with ctx.unit() as uow:
        candidates = [i for i in uow.incidents.list_incidents(open_only=True)
                      if i.id is not None and now - i.declared_at >= after
                      and _is_incident(ctx, i)]
    reminded = 0
    for candidate in candidates:
        assert candidate.id is not None
        with ctx.unit() as uow:
            incident = uow.incidents.get_incident(candidate.id, for_update=True)
            events = uow.timeline.events(candidate.id)
            since = max([incident.declared_at] + [e.at for e in events if e.kind == "handoff"])
            if not incident.is_open or now - since < after or not _is_incident(ctx, incident):
                continue
            key = f"handoff:{incident.id}:{int(since.timestamp())}"
            if not uow.followups.mark(key, at=now):
                continue
            hours = int((now - since).total_seconds() // 3600)
            text = render("handoff_reminder", incident=incident, hours=hours,
                          commander=ctx.display(incident.commander))
            record(uow, incident, kind="handoff_reminder", at=now, text=f"{hours}h without handoff")
            uow.post(incident, Message(text))
            commander = incident.commander
            if commander and ctx.knows(commander):
                uow.send_direct(person=commander, message=Message(text),
                                incident_id=candidate.id)
            reminded += 1
    return reminded


def _is_incident(ctx: Context, incident: Incident) -> bool:
    return ctx.catalog.response_for(incident.priority).pages


def _line(ctx: Context, event: TimelineEvent) -> dict[str, object]:
    return {"at": event.at, "who": ctx.display(event.actor) or "",
            "what": event.text or event.kind.replace("_", " ")}
