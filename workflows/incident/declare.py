"""Declare: triage a signal through the priority matrix, open the incident, page when it pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from workflows import observe
from workflows.context import Context, record
from workflows.durations import format_duration
from workflows.incident.ack_due import schedule_ack_due
from workflows.incident.bridge import bridge_from_catalog
from workflows.intake.tickets import open_ticket_effect
from workflows.model import Deadline, DeadlineKind, Incident, State
from workflows.paging.clocks import start_clocks
from workflows.paging.escalation import start_escalation
from workflows.ports import InvalidRequest, Message
from workflows.render import render
from workflows.unit import Unit


@dataclass(frozen=True)
class DeclareRequest:
    title: str
    service: str
    severity: str
    urgency: str
    environment: str = "production"
    description: str = ""
    security: bool = False  # private channel
    drill: bool = False
    reporter: str | None = None  # person id, or a chat mention when not in the catalog
    flags: tuple[str, ...] = ()  # security, privacy, compliance: start notification clocks
    platform: str | None = None  # the chat platform it comes from ("slack", "teams")


def declare(ctx: Context, request: DeclareRequest) -> Incident:
    """Open an incident. P1/P2 get a channel and a page; P3/P4 go to the team's queue.

    The incident, its escalation's first deadline, its first pages and every effect it owes
    (channel, invites, welcome, ticket) commit together: once this returns, they happen.
    """
    with ctx.unit() as uow:
        incident = declare_in(ctx, uow, request)
        uow.after_commit(lambda: observe_opened(ctx, incident, source="declared"))
    with ctx.unit() as uow:
        # As it is now: with its channel when that was made already (always, when effects are
        # performed by the committing thread).
        return uow.incidents.get_incident(_id(incident))


def declare_in(
    ctx: Context, uow: Unit, request: DeclareRequest
) -> Incident:
    """`declare` inside a caller's unit of work (an alert opening its incident)."""
    title = request.title.strip()
    if not title:
        raise InvalidRequest("an incident needs a title")
    service = ctx.catalog.service(request.service)
    team = ctx.catalog.team_for_service(service.id)
    priority = ctx.catalog.priority_for(
        severity=request.severity, urgency=request.urgency, environment=request.environment
    )
    response = ctx.catalog.response_for(priority)
    now = ctx.now()
    incident = Incident(
        title=title, service=service.id, team=team.id, severity=request.severity,
        urgency=request.urgency, environment=request.environment, priority=priority,
        declared_at=now, declared_by=request.reporter, description=request.description,
        security=request.security or bool({"security", "privacy"} & set(request.flags)),
        drill=request.drill, platform=request.platform,
        flags=sorted(set(request.flags) | ({"security"} if request.security else set())),
    )
    if request.reporter and ctx.knows(request.reporter):
        incident.roles["commander"] = request.reporter
    uow.incidents.add_incident(incident)
    incident.bridge = bridge_from_catalog(ctx.catalog, incident)  # its template needs the id
    if incident.bridge:
        uow.incidents.save_incident(incident)
    record(
        uow, incident, kind="declared", at=now, actor=request.reporter,
        text=f"{priority} declared: {title}",
        data={"severity": request.severity, "urgency": request.urgency,
              "environment": request.environment, "drill": request.drill,
              "flags": incident.flags},
    )
    paged: list[str] = []
    if response.page:
        paged = start_response(ctx, uow, incident)
    else:
        schedule_ack_due(ctx, uow, incident)
    start_clocks(ctx, uow, incident)
    _welcome(ctx, uow, incident, paged=paged)
    open_ticket_effect(ctx, uow, incident)
    return incident


def observe_opened(ctx: Context, incident: Incident, *, source: str) -> None:
    """Report an opened incident (`source`: declared | alert | report), once it is committed."""
    observe.incident_opened(ctx.meter, incident=incident.ref, priority=incident.priority,
                            source=source, service=incident.service)


def start_response(ctx: Context, uow: Unit, incident: Incident) -> list[str]:
    """A paging priority's response: a channel, its people, the escalation (while nobody has
    acknowledged) and the update cadence. Returns who was paged.

    Used when an incident is declared at a paging priority and when it is raised to one.
    """
    # Pages do not wait for the channel: they are independent effects, performed beside
    # it; the channel, its invites and its welcome follow one another in order.
    if incident.channel is None:
        uow.create_channel(incident)
    people = [p for p in dict.fromkeys([incident.declared_by, incident.commander,
                                        incident.acknowledged_by]) if p and ctx.knows(p)]
    uow.invite(incident, people)
    paged: list[str] = []
    if incident.state == State.TRIGGERED:
        paged = start_escalation(ctx, uow, incident)
    response = ctx.catalog.response_for(incident.priority)
    if response.update_every:
        _remind_updates(ctx, uow, incident, response.update_every.seconds)
    return paged


def raise_response(
    ctx: Context, uow: Unit, incident: Incident, *, before: str
) -> list[str]:
    """The incident's priority was just changed from `before`: a ticket raised to a paging
    priority starts that priority's response (channel, escalation, cadence) now.
    Returns who was paged."""
    catalog = ctx.catalog
    if not catalog.response_for(incident.priority).page or catalog.response_for(before).page:
        return []
    assert incident.id is not None
    uow.deadlines.cancel_deadlines(incident_id=incident.id, kinds=(DeadlineKind.ACK_DUE,))
    paged = start_response(ctx, uow, incident)
    _welcome(ctx, uow, incident, paged=paged)
    if incident.acknowledged_by and incident.state != State.TRIGGERED:
        # They took it as a ticket; it is an incident now, and theirs.
        uow.send_direct(person=incident.acknowledged_by, incident_id=incident.id,
                        message=Message(render("raised_yours", incident=incident, before=before)))
    return paged


def _remind_updates(
    ctx: Context, uow: Unit, incident: Incident, seconds: int
) -> None:
    due = ctx.now() + timedelta(seconds=seconds)
    uow.schedule(Deadline(_id(incident), DeadlineKind.UPDATE_REMINDER, due))


def _welcome(ctx: Context, uow: Unit, incident: Incident, *, paged: list[str]) -> None:
    service = ctx.catalog.service(incident.service)
    response = ctx.catalog.response_for(incident.priority)
    text = render(
        "welcome", incident=incident, service=service, team=ctx.catalog.team(incident.team),
        declared_by=ctx.display(incident.declared_by), commander=ctx.display(incident.commander),
        paged=[ctx.display(p) for p in paged],
        update_every=format_duration(response.update_every.seconds) if response.update_every else None,
    )
    # Its buttons and links are on the live card (workflows/incident/card.py), which is kept
    # current; this introduction says who and why once, and carries nothing that goes stale.
    uow.post(incident, Message(text))
    uow.refresh(incident)
    uow.invite(incident, paged)


def _id(incident: Incident) -> int:
    assert incident.id is not None
    return incident.id
