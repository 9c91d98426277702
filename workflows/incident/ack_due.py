"""Queued (P3/P4) signals: acknowledged within business time, reminded when they are not.

"8 hours or the next business day if it is over the weekend": the deadline counts only business
hours (holidays of the catalog's country excluded), and nobody is paged at night for it.
"""

from __future__ import annotations

from workflows.business_time import deadline as business_deadline
from workflows.context import Context, record
from workflows.model import Deadline, DeadlineKind, Incident, State
from workflows.outbox import Effect, EffectKind
from workflows.ports import Message
from workflows.render import render
from workflows.unit import Unit


def schedule_ack_due(ctx: Context, uow: Unit, incident: Incident) -> None:
    """Start the acknowledgement clock of a queued signal from the priority's `ack_within`."""
    assert incident.id is not None
    response = ctx.catalog.response_for(incident.priority)
    due = business_deadline(
        ctx.catalog.business_hours, start=ctx.now(), duration=response.ack_within,
        zone=ctx.catalog.business_zone,
    )
    uow.schedule(Deadline(incident.id, DeadlineKind.ACK_DUE, due))


def on_ack_due(
    ctx: Context, uow: Unit, incident: Incident, deadline: Deadline
) -> None:
    """Nobody acknowledged in time: remind the team's channel and the ticket, page nobody."""
    if incident.state != State.TRIGGERED:
        return
    ack_within = ctx.catalog.response_for(incident.priority).ack_within
    text = render("ack_overdue", incident=incident, ack_within=ack_within)
    record(uow, incident, kind="ack_overdue", at=ctx.now(), text=f"not acknowledged within {ack_within}")
    team_channel = ctx.team_channel(ctx.catalog.team(incident.team))
    if team_channel:
        message = Message(text)
        uow.post_to(channel=team_channel, message=message, incident_id=incident.id)
    if ctx.tickets is not None and incident.ticket:
        uow.owe(Effect(EffectKind.UPDATE_TICKET, incident.id,
                              {"ticket": incident.ticket, "comment": text}))
