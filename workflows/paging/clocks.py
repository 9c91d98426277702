"""Notification clocks: duties to tell a regulator or customers within a time of discovery.

A security, privacy or compliance incident starts the catalog's clocks at declaration. They
show in the channel topic, remind at their offsets, and page a group when the deadline nears.
"""

from __future__ import annotations

from datetime import timedelta

from workflows.context import Context, record
from workflows.durations import format_duration
from workflows.model import DIRECT, Deadline, DeadlineKind, Incident
from workflows.oncall.schedules import resolve_targets
from workflows.paging.clock_rules import clock_due, clocks_for, met_clocks, running_clocks
from workflows.paging.delivery import queue_pages
from workflows.ports import InvalidRequest, Message
from workflows.render import render
from workflows.unit import Unit


def start_clocks(ctx: Context, uow: Unit, incident: Incident) -> None:
    """Start every clock that applies to the incident's flags."""
    assert incident.id is not None
    now = ctx.now()
    for clock in clocks_for(ctx.catalog, incident):
        due = clock_due(incident, clock)
        moments = [("remind", due - timedelta(seconds=b.seconds)) for b in clock.remind_before]
        if clock.page_group:
            moments.append(("page", due - timedelta(seconds=clock.page_before.seconds)))
        moments.append(("due", due))
        for what, at in moments:
            uow.schedule(Deadline(
                incident.id, DeadlineKind.NOTIFICATION_CLOCK, max(at, now),
                {"clock": clock.id, "what": what},
            ))
        record(uow, incident, kind="clock_started", at=now,
               text=f"{clock.name} due {due:%Y-%m-%d %H:%M} UTC",
               data={"clock": clock.id, "due": due.isoformat()})
    if clocks_for(ctx.catalog, incident):
        clocks = running_clocks(ctx.catalog, incident, now=ctx.now())
        uow.post(incident, Message(render("clocks_started", clocks=clocks, short=False,
                                          zone=ctx.catalog.timezone)))


def on_clock(
    ctx: Context, uow: Unit, incident: Incident, deadline: Deadline
) -> None:
    """A clock's reminder, page or deadline moment came. A clock runs until it is marked
    done, whatever the incident's state: a fix in an hour does not end a 72 h duty."""
    if str(deadline.data["clock"]) in met_clocks(uow, incident):
        return
    clock = next(c for c in ctx.catalog.notification_clocks if c.id == deadline.data["clock"])
    due = clock_due(incident, clock)
    left = format_duration(max(0, int((due - ctx.now()).total_seconds())))
    what = deadline.data["what"]
    text = render("clock_reminder", clock=clock, incident=incident, left=left,
                  due_now=what == "due")
    record(uow, incident, kind="clock_reminder", at=ctx.now(), text=text,
           data={"clock": clock.id, "what": what})
    uow.post(incident, Message(text))
    if what == "page" and clock.page_group:
        people = resolve_targets(ctx.catalog, targets=ctx.catalog.group(clock.page_group), at=ctx.now())
        reason = (f"{clock.name} is due in {left}: the notice must go out. Once it has, "
                  f"mark it done with `/incident notified {clock.id}`.")
        queue_pages(ctx, uow, incident, people=people, step=DIRECT, round=0, reason=reason)
        uow.invite(incident, people)


def mark_notified(ctx: Context, *, incident_id: int, clock_id: str, actor: str) -> Incident:
    """The notice was sent: the clock stops."""
    with ctx.unit() as uow:
        incident = uow.incidents.get_incident(incident_id, for_update=True)
        known = [c.id for c in clocks_for(ctx.catalog, incident)]
        if clock_id not in known:
            raise InvalidRequest(
                f"{incident.ref} has no clock '{clock_id}'" + (f"; running: {', '.join(known)}" if known else "")
            )
        if clock_id in met_clocks(uow, incident):
            raise InvalidRequest(f"{clock_id} of {incident.ref} is already marked done")
        record(uow, incident, kind="clock_met", at=ctx.now(), actor=actor, data={"clock": clock_id},
               text=f"{clock_id} done")
        assert incident.id is not None
        uow.post(incident, Message(render("clock_done", clock=clock_id, actor=ctx.display(actor))))
        uow.refresh(incident)
    return incident
