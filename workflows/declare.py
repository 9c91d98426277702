"""Declare: triage a signal through the priority matrix, open the incident, page when it pages."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from workflows.ack_due import schedule_ack_due
from workflows.clocks import start_clocks
from workflows.context import Context, Effect, record
from workflows.durations import format_duration
from workflows.escalate import start_escalation
from workflows.model import Deadline, DeadlineKind, Incident
from workflows.paging import ack_button
from workflows.ports import Button, ExternalServiceError, InvalidRequest, Message, Transaction
from workflows.render import render
from workflows.ticket_sync import open_ticket_effect


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


def channel_name(incident: Incident) -> str:
    """`inc-<yyyymmdd>-<slug>`, within Slack's 80 characters and its alphabet."""
    slug = re.sub(r"[^a-z0-9]+", "-", incident.title.lower()).strip("-")[:40].strip("-")
    prefix = "drill" if incident.drill else "inc"
    return f"{prefix}-{incident.declared_at:%Y%m%d}-{slug or incident.id}"


def declare(ctx: Context, request: DeclareRequest) -> Incident:
    """Open an incident. P1/P2 get a channel and a page; P3/P4 go to the team's queue."""
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
        drill=request.drill,
        flags=sorted(set(request.flags) | ({"security"} if request.security else set())),
    )
    if request.reporter and ctx.knows(request.reporter):
        incident.roles["commander"] = request.reporter
    with ctx.store.transaction() as tx:
        tx.add_incident(incident)
        record(
            tx, incident, kind="declared", at=now, actor=request.reporter,
            text=f"{priority} declared: {title}",
            data={"severity": request.severity, "urgency": request.urgency,
                  "environment": request.environment, "drill": request.drill,
                  "flags": incident.flags},
        )
    if response.page:
        try:
            _open_channel(ctx, incident)
        except ExternalServiceError as error:
            # No channel is no reason not to page: the team's channel hears about it instead.
            with ctx.store.transaction() as tx:
                record(tx, incident, kind="channel_failed", at=ctx.now(), text=str(error))
    paged: list[str] = []
    with ctx.unit() as (tx, effects):
        incident = tx.get_incident(_id(incident), for_update=True)
        if response.page:
            paged = start_escalation(ctx, tx, effects, incident)
            if response.update_every:
                _remind_updates(ctx, tx, effects, incident, response.update_every.seconds)
        else:
            schedule_ack_due(ctx, tx, effects, incident)
        start_clocks(ctx, tx, effects, incident)
        _welcome(ctx, effects, incident, paged=paged)
        open_ticket_effect(ctx, effects, incident)
    return incident


def _open_channel(ctx: Context, incident: Incident) -> None:
    channel = ctx.chat.create_channel(name=channel_name(incident), private=incident.security)
    people = [p for p in {incident.declared_by, incident.commander} if p and ctx.knows(p)]
    with ctx.store.transaction() as tx:
        incident.channel = channel
        tx.save_incident(incident)
        record(tx, incident, kind="channel_created", at=ctx.now(), text=channel)
    if people:
        ctx.chat.invite(channel=channel, people=people)


def _remind_updates(
    ctx: Context, tx: Transaction, effects: list[Effect], incident: Incident, seconds: int
) -> None:
    due = ctx.now() + timedelta(seconds=seconds)
    ctx.schedule(tx, effects, Deadline(_id(incident), DeadlineKind.UPDATE_REMINDER, due))


def _welcome(ctx: Context, effects: list[Effect], incident: Incident, *, paged: list[str]) -> None:
    service = ctx.catalog.service(incident.service)
    response = ctx.catalog.response_for(incident.priority)
    text = render(
        "welcome", incident=incident, service=service, team=ctx.catalog.team(incident.team),
        declared_by=ctx.display(incident.declared_by), commander=ctx.display(incident.commander),
        paged=[ctx.display(p) for p in paged],
        update_every=format_duration(response.update_every.seconds) if response.update_every else None,
    )
    buttons = (ack_button(incident), Button("resolve", "Resolve", str(incident.id), "danger"))
    links = tuple(("Runbook", service.runbook) for _ in [0] if service.runbook) + tuple(
        ("Dashboard", url) for url in service.dashboards
    )
    ctx.post(effects, incident, Message(text, buttons=buttons if incident.channel else (), links=links))
    ctx.refresh_topic(effects, incident)
    ctx.invite(effects, incident, paged)


def _id(incident: Incident) -> int:
    assert incident.id is not None
    return incident.id
