"""Ticket sync: every incident gets a ticket once declared; priority changes, resolution and
closure are written to it. Called from the incident workflows; without a tracker it does nothing.
An open incident whose ticket effect gave up (the tracker was down too long) owes it again on the
scheduler's poll (`owe_missing_tickets`).
"""

from __future__ import annotations

from datetime import timedelta

from workflows.context import Context, record
from workflows.model import Incident
from workflows.outbox import Effect, EffectKind
from workflows.paging.test_page import is_test
from workflows.ports import Message
from workflows.render import render
from workflows.unit import Unit


def open_ticket_effect(ctx: Context, uow: Unit, incident: Incident) -> None:
    """With the declaration, owe the incident's ticket."""
    if ctx.tickets is None or incident.id is None:
        return
    uow.owe(Effect(EffectKind.OPEN_TICKET, incident.id, {},
                          key=f"open_ticket:{incident.id}"))


# An incident left without a ticket owes it again at most this often (the tracker is down:
# each owed effect already tries for minutes before it gives up).
OWE_AGAIN_EVERY = timedelta(minutes=15)


def owe_missing_tickets(ctx: Context, *, limit: int = 500) -> int:
    """On the poll: every open incident without a ticket and with no open-ticket effect pending
    (the effect gave up) owes one again. Returns how many were owed.

    The effect's key names the current `OWE_AGAIN_EVERY` slot, so replicas polling at once write
    it once, and a tracker that stays down is asked again every slot, not on every poll. Opening
    stays idempotent: the adapter links a ticket an earlier try made (by the incident's label).
    """
    if ctx.tickets is None:
        return 0
    slot = int(ctx.now().timestamp() // OWE_AGAIN_EVERY.total_seconds())
    owed = 0
    with ctx.unit() as uow:
        for incident in uow.incidents.list_incidents(open_only=True, limit=limit):
            if incident.ticket or incident.id is None or is_test(incident):
                continue
            pending = uow.outbox.pending_effects(incident_id=incident.id)
            if any(effect.kind == EffectKind.OPEN_TICKET for effect in pending):
                continue
            uow.owe(Effect(EffectKind.OPEN_TICKET, incident.id, {},
                           key=f"open_ticket:{incident.id}:{slot}"))
            owed += 1
    return owed


def sync_ticket_effect(ctx: Context, uow: Unit, incident: Incident, what: str) -> None:
    """With the change, owe a note of it on the incident's ticket (priority, state, a comment)."""
    if ctx.tickets is None or incident.id is None or not incident.ticket:
        return
    uow.owe(Effect(EffectKind.UPDATE_TICKET, incident.id,
                          {"ticket": incident.ticket, "comment": f"{incident.ref}: {what}"}))


def open_ticket(ctx: Context, incident_id: int) -> str | None:
    """Open the ticket of an incident that has none yet; returns its key. Safe to repeat: the
    tracker adapter finds a ticket an earlier attempt opened (by the incident's label)."""
    if ctx.tickets is None:
        return None
    with ctx.unit() as uow:
        incident = uow.incidents.get_incident(incident_id)
    if incident.ticket:
        return incident.ticket
    service = ctx.catalog.service(incident.service)
    team = ctx.catalog.team(incident.team)
    body = render("ticket", incident=incident, service=service, team=team,
                  reporter=ctx.display(incident.declared_by), zone=ctx.catalog.timezone,
                  channel_url=ctx.chat.channel_url(incident.channel) if incident.channel else None)
    key = ctx.tickets.open_ticket(incident=incident, body=body)
    with ctx.unit() as uow:
        incident = uow.incidents.get_incident(incident_id, for_update=True)
        if incident.ticket:
            return incident.ticket
        incident.ticket = key
        uow.incidents.save_incident(incident)
        record(uow, incident, kind="ticket_opened", at=ctx.now(), text=key, data={"ticket": key})
        page = ctx.catalog.response_for(incident.priority).page
        uow.post(incident, Message(render(
            "ticket_opened", incident=incident, ticket=key, page=page, team=team,
        )))
    return key
