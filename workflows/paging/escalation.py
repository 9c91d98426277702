"""Escalation: page the targets of a step, wait for an acknowledgement, move on when none comes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from workflows import observe
from workflows.business_time import is_business_time, next_opening
from workflows.catalog.model import BusinessHours, Catalog
from workflows.context import Context, record
from workflows.durations import format_duration
from workflows.model import (
    DIRECT,
    Deadline,
    DeadlineKind,
    EscalationStepSnapshot,
    Incident,
    PageStatus,
    State,
)
from workflows.oncall.schedules import resolve_targets
from workflows.paging.delivery import queue_pages
from workflows.ports import InvalidRequest, Message
from workflows.render import render
from workflows.unit import Unit


def snapshot_policy(ctx: Context, incident: Incident) -> None:
    """Copy the team's policy onto the incident, so editing it mid-incident strands nobody."""
    team = ctx.catalog.team(incident.team)
    if not team.escalation_policy:
        return
    policy = ctx.catalog.policy(team.escalation_policy)
    incident.policy = [
        EscalationStepSnapshot(targets=list(step.notify), ack_timeout_seconds=step.ack_timeout.seconds)
        for step in policy.steps
    ]
    incident.policy_repeat = policy.repeat


def start_escalation(
    ctx: Context, uow: Unit, incident: Incident
) -> list[str]:
    """Page the first step of the incident's policy; returns who was paged.

    During a maintenance window of the service, pages are held back (and the channel is told)
    until the window ends; outside the coverage hours of a `page: coverage` priority they are
    queued until the next window opens. A deadline row holds either, so a restart keeps it.
    """
    snapshot_policy(ctx, incident)
    window = maintenance_at(ctx.catalog, service_id=incident.service, at=ctx.now())
    opens = coverage_opens(ctx.catalog, priority=incident.priority, at=ctx.now())
    if window is None and opens is not None:
        _queue_until_coverage(ctx, uow, incident, opens=opens)
        return []
    if window is not None:
        assert incident.id is not None
        end = window.end.strftime("%Y-%m-%d %H:%M %Z")
        record(uow, incident, kind="paging_held", at=ctx.now(), text=f"{window.reason} until {end}",
               data={"until": window.end.isoformat()})
        uow.post(incident, Message(render(
            "paging_held", incident=incident, reason=window.reason, until=end)))
        uow.schedule(Deadline(incident.id, DeadlineKind.MAINTENANCE_END, window.end))
        return []
    assert incident.id is not None
    uow.deadlines.cancel_deadlines(incident_id=incident.id, kinds=HOLDS)
    if not incident.policy:
        uow.post(incident, Message(render("escalated", incident=incident, exhausted=True)))
        return []
    return _page_step(ctx, uow, incident, step=0, round=0)


# Deadlines that hold an incident's first page back; when one falls due, `on_hold_end` pages.
HOLDS = (DeadlineKind.MAINTENANCE_END, DeadlineKind.COVERAGE_START)


def coverage_opens(catalog: Catalog, *, priority: str, at: datetime) -> datetime | None:
    """When paging for `priority` may begin, if it may not at `at`: a `page: coverage`
    priority outside its coverage hours waits for the next window to open."""
    response = catalog.response_for(priority)
    if response.page != "coverage":
        return None
    hours, zone = coverage_hours(catalog, priority)
    if is_business_time(hours, at=at, zone=zone):
        return None
    return next_opening(hours, at=at, zone=zone)


def coverage_hours(catalog: Catalog, priority: str) -> tuple[BusinessHours, str]:
    """A priority's coverage hours and their zone (default: the catalog's business hours)."""
    own = catalog.response_for(priority).coverage_hours
    if own is None:
        return catalog.business_hours, catalog.business_zone
    return own, own.timezone or catalog.timezone


def _queue_until_coverage(
    ctx: Context, uow: Unit, incident: Incident, *, opens: datetime
) -> None:
    assert incident.id is not None
    if any(d.kind == DeadlineKind.COVERAGE_START and d.due_at == opens
           for d in uow.deadlines.pending_deadlines(incident.id)):
        return  # queued already (the priority was set again to one of the same hours)
    zone = coverage_hours(ctx.catalog, incident.priority)[1]
    when = opens.astimezone(ZoneInfo(zone)).strftime("%a %H:%M %Z")
    if opens - ctx.now() >= timedelta(days=6):  # "Mon 09:00" alone would be ambiguous
        when = opens.astimezone(ZoneInfo(zone)).strftime("%a %Y-%m-%d %H:%M %Z")
    record(uow, incident, kind="paging_queued", at=ctx.now(),
           text=f"{incident.priority} outside coverage hours: paging at {when}",
           data={"until": opens.isoformat()})
    uow.post(incident, Message(render("paging_queued", incident=incident, when=when)))
    uow.schedule(Deadline(incident.id, DeadlineKind.COVERAGE_START, opens))


def held(uow: Unit, incident: Incident) -> bool:
    """Whether the incident's paging is held back (maintenance, outside coverage hours): it is
    triggered, a hold's deadline is pending, and its escalation paged nobody yet."""
    assert incident.id is not None
    return (
        incident.state == State.TRIGGERED
        and any(d.kind in HOLDS for d in uow.deadlines.pending_deadlines(incident.id))
        and not any(p.step != DIRECT for p in uow.pages.pages(incident.id))
    )


def release_held(ctx: Context, uow: Unit, incident: Incident, *, actor: str) -> list[str] | None:
    """A person escalated an incident whose paging is held back ("impact is growing"): its
    escalation starts now, whatever the hours. Returns who was paged; None if nothing was held."""
    if not held(uow, incident):
        return None
    assert incident.id is not None
    uow.deadlines.cancel_deadlines(incident_id=incident.id, kinds=HOLDS)
    snapshot_policy(ctx, incident)
    if not incident.policy:
        uow.post(incident, Message(render("escalated", incident=incident, exhausted=True)))
        return []
    people = _page_step(ctx, uow, incident, step=0, round=0)
    record(uow, incident, kind="escalated", at=ctx.now(), actor=actor,
           text=f"escalated by {ctx.display(actor)} while paging was held: step 1, round 1",
           data={"step": 0, "round": 0, "people": people})
    uow.post(incident, Message(render(
        "escalated", incident=incident, exhausted=False, step=0, round=0,
        people=[ctx.display(p) for p in people] or ["nobody (empty step)"],
        by=ctx.display(actor))))
    uow.invite(incident, people)
    return people


def restart_escalation(
    ctx: Context, uow: Unit, incident: Incident, *,
    first: list[str] | None,
) -> list[str]:
    """Start the (possibly new) team's policy over, optionally with extra targets first."""
    assert incident.id is not None
    uow.deadlines.cancel_deadlines(incident_id=incident.id, kinds=(DeadlineKind.ESCALATE,))
    for page in uow.pages.pages(incident.id):
        if page.status == PageStatus.QUEUED and page.step != DIRECT:
            page.status = PageStatus.CANCELLED
            uow.pages.save_page(page)
    snapshot_policy(ctx, incident)
    if first:
        timeout = ctx.catalog.response_for(incident.priority).ack_within.seconds
        incident.policy.insert(0, EscalationStepSnapshot(targets=first, ack_timeout_seconds=timeout))
    if not incident.policy:
        return []
    return _page_step(ctx, uow, incident, step=0, round=0)


def page_again(ctx: Context, uow: Unit, incident: Incident) -> list[str]:
    """The problem is back while nobody holds the incident: its policy pages from the first
    step again, as a new round."""
    assert incident.id is not None
    uow.deadlines.cancel_deadlines(incident_id=incident.id, kinds=(DeadlineKind.ESCALATE,))
    if not incident.policy:
        snapshot_policy(ctx, incident)
    if not incident.policy:
        return []
    return _page_step(ctx, uow, incident, step=0, round=incident.escalation_round + 1)


def on_hold_end(
    ctx: Context, uow: Unit, incident: Incident, deadline: Deadline
) -> None:
    """The maintenance window is over, or the coverage hours begin, and nobody acknowledged:
    page now (unless another hold applies now, which `start_escalation` checks again)."""
    assert incident.id is not None
    if incident.state == State.TRIGGERED and not any(
        p.step != DIRECT for p in uow.pages.pages(incident.id)
    ):
        start_escalation(ctx, uow, incident)


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime
    reason: str


def maintenance_at(catalog: Catalog, *, service_id: str, at: datetime) -> Window | None:
    """The service's maintenance window at `at`, if any (naive times are in the catalog's zone)."""
    zone = ZoneInfo(catalog.timezone)
    for window in catalog.service(service_id).maintenance:
        start, end = (t if t.tzinfo else t.replace(tzinfo=zone) for t in (window.start, window.end))
        if start <= at < end:
            return Window(start, end, window.reason)
    return None


def on_ack_timeout(
    ctx: Context, uow: Unit, incident: Incident, deadline: Deadline
) -> None:
    """The ack timeout of a step ran out: page the next step (or the first again, on repeat)."""
    step, round = int(deadline.data["step"]), int(deadline.data["round"])
    if incident.state != State.TRIGGERED or (step, round) != (
        incident.escalation_step,
        incident.escalation_round,
    ):
        return  # acknowledged, resolved, or an older step: nothing to do
    timeout = format_duration(incident.policy[step].ack_timeout_seconds)
    _next_step(ctx, uow, incident, why=f"no acknowledgement within {timeout}", timeout=timeout)


def escalate_now(ctx: Context, *, incident_id: int, actor: str) -> list[str]:
    """Someone paged hands the incident on: the next step of the policy is paged now, without
    waiting for the ack timeout (PagerDuty's "Escalate"). Returns who was paged."""
    with ctx.unit() as uow:
        incident = uow.incidents.get_incident(incident_id, for_update=True)
        if incident.state != State.TRIGGERED:
            raise InvalidRequest(f"{incident.ref} is {incident.state.value}: nobody is being "
                                 "paged any more")
        released = release_held(ctx, uow, incident, actor=actor)
        if released is not None:
            return released
        if not incident.policy:
            raise InvalidRequest(f"{incident.ref} has no escalation policy to go on with")
        assert incident.id is not None
        uow.deadlines.cancel_deadlines(incident_id=incident.id, kinds=(DeadlineKind.ESCALATE,))
        return _next_step(ctx, uow, incident, why=f"escalated by {ctx.display(actor)}",
                          actor=actor)


SNOOZE = timedelta(minutes=5)
MAX_SNOOZE = timedelta(minutes=30)  # in all, per incident: a snooze is a delay, not a silence


def snooze_escalation(
    ctx: Context, *, incident_id: int, person: str, delay: timedelta = SNOOZE
) -> datetime:
    """A paged person asks for a moment: the next escalation step waits `delay` from now
    instead of its ack timeout (a conscious delay, on the timeline; at most `MAX_SNOOZE` per
    incident). Returns when the escalation goes on."""
    with ctx.unit() as uow:
        incident = uow.incidents.get_incident(incident_id, for_update=True)
        if incident.state != State.TRIGGERED:
            raise InvalidRequest(f"{incident.ref} is {incident.state.value}: nothing to snooze")
        assert incident.id is not None
        snoozed = sum(int(e.data.get("seconds", 0)) for e in uow.timeline.events(incident.id)
                      if e.kind == "snoozed")
        if timedelta(seconds=snoozed) + delay > MAX_SNOOZE:
            raise InvalidRequest(
                f"{incident.ref} was snoozed for {format_duration(snoozed)} already (at most "
                f"{format_duration(int(MAX_SNOOZE.total_seconds()))}): acknowledge it or escalate")
        step, round = incident.escalation_step, incident.escalation_round
        uow.deadlines.cancel_deadlines(incident_id=incident.id, kinds=(DeadlineKind.ESCALATE,))
        until = ctx.now() + delay
        uow.schedule(Deadline(incident.id, DeadlineKind.ESCALATE, until,
                              {"step": step, "round": round}))
        seconds = int(delay.total_seconds())
        record(uow, incident, kind="snoozed", at=ctx.now(), actor=person,
               text=f"escalation waits {format_duration(seconds)}",
               data={"seconds": seconds, "until": until.isoformat()})
        uow.post(incident, Message(render(
            "snoozed", incident=incident, person=ctx.display(person),
            delay=format_duration(seconds))))
    return until


def _next_step(
    ctx: Context, uow: Unit, incident: Incident, *, why: str, timeout: str | None = None,
    actor: str | None = None,
) -> list[str]:
    step, round = incident.escalation_step + 1, incident.escalation_round
    if step >= len(incident.policy):
        step, round = 0, round + 1
    if round > incident.policy_repeat:
        record(uow, incident, kind="escalation_exhausted", at=ctx.now(), text="no more steps")
        uow.post(incident, Message(render("escalated", incident=incident, exhausted=True)))
        return []
    people = _page_step(ctx, uow, incident, step=step, round=round)
    record(
        uow,
        incident,
        kind="escalated",
        at=ctx.now(),
        actor=actor,
        text=f"{why}: step {step + 1}, round {round + 1}",
        data={"step": step, "round": round, "people": people},
    )
    text = render(
        "escalated", incident=incident, exhausted=False, timeout=timeout, step=step,
        round=round, people=[ctx.display(p) for p in people] or ["nobody (empty step)"],
        by=ctx.display(actor) if actor else None,
    )
    uow.post(incident, Message(text))
    uow.invite(incident, people)
    uow.after_commit(lambda: observe.escalated(
        ctx.meter, incident=incident.ref, step=step, round=round, people=len(people),
        reason="handed_on" if actor else "timeout"))
    return people


def _page_step(
    ctx: Context, uow: Unit, incident: Incident, *, step: int, round: int
) -> list[str]:
    assert incident.id is not None
    snapshot = incident.policy[step]
    now = ctx.now()
    people = resolve_targets(ctx.catalog, targets=snapshot.targets, at=now)
    incident.escalation_step, incident.escalation_round = step, round
    uow.incidents.save_incident(incident)
    queue_pages(ctx, uow, incident, people=people, step=step, round=round)
    due = now + timedelta(seconds=snapshot.ack_timeout_seconds)
    uow.schedule(Deadline(incident.id, DeadlineKind.ESCALATE, due, {"step": step, "round": round}))
    return people
