"""Tickets from the tracker's side: a person's change (closed, reopened, priority) in Jira or
GitHub comes back to the incident. Opening and updating tickets is `workflows.intake.tickets`.
"""

from __future__ import annotations

from workflows.context import Context, record
from workflows.incident import lifecycle
from workflows.model import State
from workflows.ports import FirebellError, NotFound, TicketChange


def apply_ticket_change(ctx: Context, change: TicketChange) -> str:
    """A person changed the ticket in the tracker: keep the incident in step. Returns what was done.

    A redelivered webhook counts once; Firebell's own changes are ignored (they came from here).
    """
    with ctx.unit() as uow:
        itx = uow.intake
        if not itx.first_delivery(system=change.system, delivery_id=change.delivery_id,
                                  at=ctx.now()):
            return "duplicate delivery"
        incident_id = itx.incident_for_ticket(change.ticket)
    if change.by_bot:
        return "own change"
    if incident_id is None:
        return "no incident has this ticket"
    actor = f"{change.system}:{change.actor or 'someone'}"
    try:
        return _apply(ctx, change, incident_id, actor)
    except (FirebellError, LookupError) as error:
        if isinstance(error, NotFound):
            raise
        # Already in that state, or a priority the catalog does not know: nothing to change.
        with ctx.unit() as uow:
            incident = uow.incidents.get_incident(incident_id)
            record(uow, incident, kind="ticket_change_ignored", at=ctx.now(), actor=actor,
                   text=f"{change.ticket}: {error}", source_id=f"{change.system}:{change.delivery_id}")
        return f"ignored: {error}"


def _apply(ctx: Context, change: TicketChange, incident_id: int, actor: str) -> str:
    with ctx.unit() as uow:
        incident = uow.incidents.get_incident(incident_id)
    if change.status == "done" and incident.is_open:
        lifecycle.resolve(ctx, incident_id=incident_id, actor=actor)
        return "resolved"
    if change.status == "open" and incident.state == State.RESOLVED:
        lifecycle.reopen(ctx, incident_id=incident_id, actor=actor)
        return "reopened"
    if change.priority and change.priority != incident.priority and incident.is_open:
        lifecycle.retriage(ctx, incident_id=incident_id, actor=actor, priority=change.priority)
        return f"priority {change.priority}"
    return "nothing to do"
