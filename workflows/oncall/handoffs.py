"""Handoff notices: when a schedule's on-call person changes, tell them and the team.

A sweep, run with every tick of the timer: it looks back `WINDOW` for handoffs and claims each
one in the store, so every replica may sweep and each handoff is announced once. The incoming
person gets a direct message with the team's open incidents; the team channel a short notice;
and a chat user group (`user_group:` of the schedule) is set to whoever is on call now.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from workflows.context import Context
from workflows.oncall.changes import refresh
from workflows.oncall.schedules import on_call, shifts
from workflows.ports import Message
from workflows.render import render

log = logging.getLogger(__name__)
WINDOW = timedelta(minutes=15)  # a handoff older than this when first seen is not announced


def schedule_tick(ctx: Context) -> int:
    """Pick up schedule changes of other replicas, then announce due handoffs; returns how many."""
    if ctx.schedules is None:
        return 0
    refresh(ctx)
    return announce_handoffs(ctx)


def announce_handoffs(ctx: Context) -> int:
    """Tell the incoming person and the team about each handoff of the last `WINDOW`."""
    if ctx.schedules is None:
        return 0
    now, catalog, done = ctx.now(), ctx.catalog, 0
    with ctx.unit() as uow:
        incidents = uow.incidents.list_incidents(open_only=True)
    for schedule in catalog.schedules:
        found = shifts(catalog, schedule_id=schedule.id, start=now - WINDOW - timedelta(seconds=1),
                       end=now + timedelta(seconds=1))  # fmt: skip
        for previous, shift in zip(found, found[1:], strict=False):
            if shift.person == previous.person or not (now - WINDOW < shift.start <= now):
                continue
            if not ctx.schedules.claim_handoff(schedule=schedule.id, at=shift.start):
                continue
            done += 1
            team = catalog.team(schedule.team)
            zone = catalog.schedule_zone(schedule.id)
            incoming, outgoing = ctx.display(shift.person), ctx.display(previous.person)
            open_ones = [i for i in incidents if i.team == team.id]
            # Effects with keys of their own: written once per handoff whatever repeats this.
            key = f"handoff:{schedule.id}:{shift.start.isoformat()}"
            with ctx.unit() as uow:
                uow.send_direct(person=shift.person, incident_id=None, key=f"{key}:incoming",
                                message=Message(render(
                    "handoff_incoming", schedule=schedule.id, team=team, incoming=incoming,
                    outgoing=outgoing, incidents=open_ones, zone=zone, shift=shift)))  # fmt: skip
                channel = ctx.team_channel(team)
                if channel:
                    uow.post_to(channel=channel, incident_id=None, key=f"{key}:team",
                                message=Message(render(
                        "handoff_team", schedule=schedule.id, incoming=incoming,
                        outgoing=outgoing, incidents=open_ones)))  # fmt: skip
                if schedule.user_group:
                    people = on_call(catalog, schedule_id=schedule.id, at=now)
                    uow.set_user_group(group=schedule.user_group, people=people,
                                       key=f"{key}:group")
    return done

