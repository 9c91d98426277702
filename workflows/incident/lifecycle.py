"""Mitigate, resolve with a recovery watch, reopen, close, and re-triage."""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from zoneinfo import ZoneInfo

from workflows import observe
from workflows.business_time import deadline as business_deadline
from workflows.context import Context, record
from workflows.durations import format_duration
from workflows.incident.ack_due import schedule_ack_due
from workflows.incident.declare import raise_response
from workflows.intake.tickets import sync_ticket_effect
from workflows.model import Deadline, DeadlineKind, Incident, PageStatus, Stage, State
from workflows.paging.delivery import settle_page_messages
from workflows.paging.escalation import page_again, start_escalation
from workflows.ports import InvalidRequest, Message
from workflows.render import render
from workflows.status_page import publish_resolution
from workflows.unit import Unit

_RUNNING = (DeadlineKind.ESCALATE, DeadlineKind.UPDATE_REMINDER, DeadlineKind.ACK_DUE,
            DeadlineKind.MAINTENANCE_END, DeadlineKind.COVERAGE_START)


def mitigate(ctx: Context, *, incident_id: int, actor: str) -> Incident:
    """Impact is stopped (TTM); the fix and the watch are still ahead."""
    with ctx.unit() as uow:
        incident = _get(uow, incident_id, allowed=(State.TRIGGERED, State.ACKNOWLEDGED))
        _stop_paging(ctx, uow, incident)
        incident.state, incident.mitigated_at = State.MITIGATED, ctx.now()
        incident.stage = Stage.MONITORING
        uow.incidents.save_incident(incident)
        record(uow, incident, kind="mitigated", at=ctx.now(), actor=actor)
        uow.post(incident, Message(render("mitigated", incident=incident, actor=ctx.display(actor))))
        uow.refresh(incident)
    return incident


def resolve(ctx: Context, *, incident_id: int, actor: str) -> Incident:
    """Resolve; the priority's `monitor_for` recovery watch closes it unless reopened."""
    with ctx.unit() as uow:
        return resolve_in(ctx, uow, incident_id=incident_id, actor=actor)


def resolve_in(
    ctx: Context, uow: Unit, *, incident_id: int, actor: str
) -> Incident:
    """`resolve` inside a caller's unit of work (an alert resolved at its source)."""
    incident = _get(
        uow, incident_id, allowed=(State.TRIGGERED, State.ACKNOWLEDGED, State.MITIGATED)
    )
    now = ctx.now()
    _stop_paging(ctx, uow, incident)
    incident.state, incident.stage, incident.resolved_at = State.RESOLVED, Stage.RESOLVED, now
    incident.mitigated_at = incident.mitigated_at or now
    uow.incidents.save_incident(incident)
    record(uow, incident, kind="resolved", at=now, actor=actor)
    seconds = (now - incident.declared_at).total_seconds()
    uow.after_commit(lambda: observe.resolved(
        ctx.meter, incident=incident.ref, priority=incident.priority, by=actor,
        after_seconds=seconds))
    sync_ticket_effect(ctx, uow, incident, f"resolved by {ctx.display(actor)}")
    publish_resolution(ctx, uow, incident)
    watch = ctx.catalog.response_for(incident.priority).monitor_for
    uow.post(incident, Message(render(
        "resolved", incident=incident, actor=ctx.display(actor),
        monitor_for=format_duration(watch.seconds) if watch else None,
        postmortem_due=_postmortem_due(ctx, incident),
    )))
    uow.refresh(incident)
    if watch:
        due = now + timedelta(seconds=watch.seconds)
        assert incident.id is not None
        uow.schedule(Deadline(incident.id, DeadlineKind.RECOVERY_CLOSE, due))
    else:
        _close(ctx, uow, incident, actor=actor, watch=False)
    return incident


def reopen(ctx: Context, *, incident_id: int, actor: str) -> Incident:
    """The problem came back during the recovery watch: the incident is acknowledged again."""
    with ctx.unit() as uow:
        incident = _get(uow, incident_id, allowed=(State.RESOLVED,))
        return reopen_in(ctx, uow, incident, actor=actor)


def reopen_in(
    ctx: Context, uow: Unit, incident: Incident, *, actor: str, reason: str = ""
) -> Incident:
    """`reopen` inside a caller's unit of work (an alert fired again during the watch).

    Held by someone before, it is theirs again (they are told); never held (resolved at its
    source before anyone acknowledged), it pages again."""
    assert incident.id is not None
    uow.deadlines.cancel_deadlines(incident_id=incident.id, kinds=(DeadlineKind.RECOVERY_CLOSE,))
    held = incident.acknowledged_by is not None
    incident.state = State.ACKNOWLEDGED if held else State.TRIGGERED
    incident.stage, incident.resolved_at = Stage.INVESTIGATING, None
    uow.incidents.save_incident(incident)
    record(uow, incident, kind="reopened", at=ctx.now(), actor=actor, text=reason)
    why = f": {reason}" if reason else ""
    uow.post(incident, Message(render(
        "reopened", incident=incident, actor=ctx.display(actor), reason=reason)))
    uow.refresh(incident)
    sync_ticket_effect(ctx, uow, incident, f"reopened{why}")
    response = ctx.catalog.response_for(incident.priority)
    if not held and response.page:
        people = page_again(ctx, uow, incident)
        uow.invite(incident, people)
    elif not held:
        schedule_ack_due(ctx, uow, incident)
    elif incident.acknowledged_by and incident.acknowledged_by != actor:
        uow.send_direct(person=incident.acknowledged_by, incident_id=incident.id, message=Message(
            render("reopened_yours", incident=incident, reason=reason)))
    if response.update_every:
        uow.schedule(Deadline(incident.id, DeadlineKind.UPDATE_REMINDER,
                              ctx.now() + timedelta(seconds=response.update_every.seconds)))
    return incident


def close(ctx: Context, *, incident_id: int, actor: str) -> Incident:
    with ctx.unit() as uow:
        incident = uow.incidents.get_incident(incident_id, for_update=True)
        if incident.state == State.CLOSED:
            raise InvalidRequest(f"{incident.ref} is already closed")
        _stop_paging(ctx, uow, incident)
        if incident.is_open:  # closed without a resolve: a public page hears it now
            publish_resolution(ctx, uow, incident)
        incident.resolved_at = incident.resolved_at or ctx.now()
        _close(ctx, uow, incident, actor=actor, watch=False)
    return incident


def close_after_watch(
    ctx: Context, uow: Unit, incident: Incident, deadline: Deadline
) -> None:
    if incident.state == State.RESOLVED:
        _close(ctx, uow, incident, actor=None, watch=True)


def retriage(
    ctx: Context, *, incident_id: int, actor: str, severity: str | None = None,
    priority: str | None = None,
) -> Incident:
    """Change severity (priority follows the matrix) or set the priority directly.

    Raised to a paging priority, the incident starts that priority's response now.
    """
    with ctx.unit() as uow:
        incident = _get(uow, incident_id, allowed=(State.TRIGGERED, State.ACKNOWLEDGED, State.MITIGATED))
        return retriage_in(ctx, uow, incident, actor=actor, severity=severity, priority=priority)


def retriage_in(
    ctx: Context, uow: Unit, incident: Incident, *, actor: str, severity: str | None = None,
    priority: str | None = None, reason: str = "",
) -> Incident:
    """`retriage` inside a caller's unit of work (a higher-priority alert joined)."""
    before = incident.priority
    if severity is not None:
        incident.priority = ctx.catalog.priority_for(
            severity=severity, urgency=incident.urgency, environment=incident.environment
        )
        incident.severity = severity
    if priority is not None:
        ctx.catalog.response_for(priority)  # unknown priority: clear error
        incident.priority = priority
    uow.incidents.save_incident(incident)
    text = f"priority {before} → {incident.priority}" + (f", severity {severity}" if severity else "")
    text += f" ({reason})" if reason else ""
    record(uow, incident, kind="priority_changed", at=ctx.now(), actor=actor, text=text,
           data={"from": before, "to": incident.priority})
    sync_ticket_effect(ctx, uow, incident, text)
    uow.post(incident, Message(render("priority_changed", incident=incident, before=before,
                                      severity=severity, reason=reason)))
    uow.refresh(incident)
    assert incident.id is not None
    pages = ctx.catalog.response_for(incident.priority).page
    if pages and not ctx.catalog.response_for(before).page:
        raise_response(ctx, uow, incident, before=before)
    elif pages and incident.state == State.TRIGGERED and not uow.pages.pages(incident.id):
        start_escalation(ctx, uow, incident)
    return incident


def _close(
    ctx: Context, uow: Unit, incident: Incident, *,
    actor: str | None, watch: bool,
) -> None:
    assert incident.id is not None
    now = ctx.now()
    # Notification clocks outlive the incident: they run until `/incident notified`.
    uow.deadlines.cancel_deadlines(incident_id=incident.id, kinds=tuple(
        k for k in DeadlineKind if k != DeadlineKind.NOTIFICATION_CLOCK))
    incident.state, incident.closed_at = State.CLOSED, now
    uow.incidents.save_incident(incident)
    record(uow, incident, kind="closed", at=now, actor=actor,
           text="recovery watch over" if watch else "")
    sync_ticket_effect(ctx, uow, incident, "closed" + (" after the recovery watch" if watch else ""))
    ttr = format_duration(int(((incident.resolved_at or now) - incident.declared_at).total_seconds()))
    postmortem = uow.followups.postmortem(incident.id)  # the close says what is left of it
    uow.post(incident, Message(render("closed", incident=incident, watch=watch, ttr=ttr,
                                      postmortem=postmortem.state.value if postmortem else None)))
    uow.refresh(incident)


def _postmortem_due(ctx: Context, incident: Incident) -> str | None:
    """When the postmortem this resolution makes owed is due, in the catalog's zone."""
    policy = ctx.catalog.postmortem
    if incident.drill or incident.priority not in policy.required_for or not incident.resolved_at:
        return None
    due = business_deadline(ctx.catalog.business_hours, start=incident.resolved_at,
                            duration=policy.due, zone=ctx.catalog.business_zone)
    return due.astimezone(ZoneInfo(ctx.catalog.timezone)).strftime("%a %d %b %H:%M %Z")


def _stop_paging(ctx: Context, uow: Unit, incident: Incident) -> None:
    assert incident.id is not None
    if incident.state == State.TRIGGERED:  # pages went out with a live Acknowledge button
        settle_page_messages(uow, incident)
    uow.deadlines.cancel_deadlines(incident_id=incident.id, kinds=_RUNNING)
    for page in uow.pages.pages(incident.id):
        if page.status == PageStatus.QUEUED:
            page.status = PageStatus.CANCELLED
            uow.pages.save_page(page)
            uow.after_commit(partial(observe.pages_settled, ctx.meter, channel=page.channel,
                                     outcome="cancelled", count=1))


def _get(uow: Unit, incident_id: int, *, allowed: tuple[State, ...]) -> Incident:
    incident = uow.incidents.get_incident(incident_id, for_update=True)
    if incident.state not in allowed:
        raise InvalidRequest(f"{incident.ref} is {incident.state.value}")
    return incident
