"""What shows an incident at a glance, kept current: its live card in its channel and its
message in the announcements channel. Each is posted once and then edited in place.

Both are rendered when their effect is performed, from the incident as it is then, so a late
refresh is never an old picture. Where each was posted is kept (`Posts`); a post cut off by a
crash is found again by its key before it is posted a second time.
"""

from __future__ import annotations

from datetime import datetime

from workflows.context import Context, record
from workflows.durations import format_duration
from workflows.model import Incident, State
from workflows.outbox import ClaimedEffect
from workflows.paging.delivery import ack_button
from workflows.ports import Button, ChatPort, KeyedPosting, Message, MessageUpdates, Pinning
from workflows.render import render

CARD, ANNOUNCEMENT, RESOLVED_REPLY = "card", "announcement", "announcement_resolved"
_TONES = {"P1": "critical", "P2": "warning"}


def tone(incident: Incident) -> str:
    """How urgent the incident looks: by priority while open; calm once resolved."""
    if not incident.is_open:
        return "good"
    return _TONES.get(incident.priority, "info")


def _age(seconds: float) -> str:
    return format_duration(max(0, int(seconds)) // 60 * 60 or max(0, int(seconds)))


def card_message(ctx: Context, incident: Incident, *, now: datetime) -> Message:
    """The live card: a header in the priority's colour, the facts side by side, the links a
    responder needs and the actions they take."""
    service = ctx.catalog.service(incident.service)
    state = incident.state.value.capitalize()
    if incident.acknowledged_by:
        state += f" by {ctx.display(incident.acknowledged_by)}"
    tta = (_age((incident.acknowledged_at - incident.declared_at).total_seconds())
           if incident.acknowledged_at else "not yet")
    fields = [
        ("Service", service.name),
        ("Priority", f"{incident.priority} ({incident.severity}, {incident.urgency})"),
        ("Stage", incident.stage.value),
        ("State", state),
        ("Commander", ctx.display(incident.commander) or "unassigned"),
        ("Comms", ctx.display(incident.roles.get("comms")) or "unassigned"),
        ("Age", _age(((incident.resolved_at or now) - incident.declared_at).total_seconds())),
        ("Time to acknowledge", tta),
    ]
    text = render("card", incident=incident, zone=ctx.catalog.timezone,
                  declared_by=ctx.display(incident.declared_by))
    return Message(
        text, title=_title(incident), fields=tuple(fields), tone=tone(incident),
        links=_links(ctx, incident), buttons=_actions(incident),
    )


def _title(incident: Incident) -> str:
    drill = "[DRILL] " if incident.drill else ""
    return f"{drill}{incident.ref} · {incident.priority} · {incident.title}"


def _links(ctx: Context, incident: Incident) -> tuple[tuple[str, str], ...]:
    service = ctx.catalog.service(incident.service)
    links = [("Join the bridge", incident.bridge)] if incident.bridge and incident.is_open else []
    links += [("Runbook", service.runbook)] if service.runbook else []
    links += [(f"Dashboard {n}" if len(service.dashboards) > 1 else "Dashboard", url)
              for n, url in enumerate(service.dashboards, 1)]
    if incident.ticket and incident.ticket.startswith(("http://", "https://")):
        links.append(("Ticket", incident.ticket))
    return tuple(links)


def _actions(incident: Incident) -> tuple[Button, ...]:
    """Buttons run the same words as the commands (`/incident status 7` opens its form)."""
    if not incident.is_open:
        return ()
    value = str(incident.id)
    buttons = [ack_button(incident)] if incident.state == State.TRIGGERED else []
    return (*buttons, Button("status", "Update status", value), Button("role", "Set role", value),
            Button("escalate", "Escalate", value), Button("resolve", "Resolve", value, "danger"))


def announcement_message(ctx: Context, incident: Incident, *, now: datetime) -> Message:
    """The stakeholders' view: what is affected and where it stands, with a way in. A private
    (security or privacy) incident is announced without its details."""
    private = incident.security
    service = ctx.catalog.service(incident.service)
    url = None if private or not incident.channel else ctx.chat.channel_url(incident.channel)
    with ctx.reading() as uow:
        updates = [e for e in uow.timeline.events(incident.id or 0) if e.kind == "status_update"
                   and "stakeholders" in (e.data.get("audience") or [])]
    text = render("announcement", incident=incident, private=private, service=service,
                  latest=updates[-1] if updates else None,
                  channel=None if private or not incident.channel
                  else ctx.chat.channel_link(incident.channel))
    title = (f"{incident.ref} · {incident.priority} · restricted incident" if private
             else _title(incident))
    fields = () if private else (
        ("Service", service.name), ("Stage", incident.stage.value),
        ("State", incident.state.value.capitalize()),
        ("Commander", ctx.display(incident.commander) or "unassigned"),
        ("Age", _age(((incident.resolved_at or now) - incident.declared_at).total_seconds())),
    )
    links = (("Join the channel", url),) if url else ()
    buttons = (Button("subscribe", "Follow updates", str(incident.id)),) if incident.is_open else ()
    return Message(text, title=title, fields=fields, tone=tone(incident), links=links,
                   buttons=buttons)


# performers ----------------------------------------------------------------------------------
def refresh_card(ctx: Context, effect: ClaimedEffect) -> str | None:
    """Performs a CARD effect: the card posted and pinned in the incident's channel the first
    time, edited in place after."""
    incident = _incident(ctx, effect)
    if not incident.channel:
        return None  # a ticket without a channel; a channel being made refreshes it again
    message = card_message(ctx, incident, now=ctx.now())
    return _keep_current(ctx, effect, incident, CARD, channel=incident.channel, message=message,
                         pin=True)


def refresh_announcement(ctx: Context, effect: ClaimedEffect) -> str | None:
    """Performs an ANNOUNCE effect: one message per announced incident in the announcements
    channel, edited in place; its resolution (and each stakeholder update, `reply`) a reply in
    its thread."""
    incident = _incident(ctx, effect)
    announcements = ctx.catalog.announcements
    channel = ctx.team_channel(announcements)
    if not channel or incident.priority not in announcements.priorities:
        return None
    with ctx.reading() as uow:
        announced = uow.posts.post_ref(incident.id or 0, ANNOUNCEMENT)
    if announced is None and not incident.is_open:
        return None  # resolved before it was ever announced (a ticket raised and closed)
    message = announcement_message(ctx, incident, now=ctx.now())
    ref = _keep_current(ctx, effect, incident, ANNOUNCEMENT, channel=channel, message=message)
    chat = ctx.chat
    reply = effect.payload.get("reply")
    if reply and isinstance(chat, MessageUpdates):
        chat.reply(ref=ref, message=Message(str(reply)))
    if incident.state in (State.RESOLVED, State.CLOSED) and isinstance(chat, MessageUpdates):
        with ctx.reading() as uow:
            told = uow.posts.post_ref(incident.id or 0, RESOLVED_REPLY)
        if told is None:
            after = _age(((incident.resolved_at or ctx.now()) - incident.declared_at)
                         .total_seconds())
            reply_ref = chat.reply(ref=ref, message=Message(render(
                "announcement_resolved", incident=incident, after=after,
                private=incident.security)))
            with ctx.unit() as uow:
                uow.posts.keep_post(incident.id or 0, RESOLVED_REPLY, reply_ref, at=ctx.now())
    return ref


def _incident(ctx: Context, effect: ClaimedEffect) -> Incident:
    with ctx.reading() as uow:
        return uow.incidents.get_incident(effect.incident_id or 0)


def _keep_current(
    ctx: Context, effect: ClaimedEffect, incident: Incident, purpose: str, *, channel: str,
    message: Message, pin: bool = False,
) -> str:
    """Edit the incident's message for `purpose` in place, or post it (once) if it has none."""
    assert incident.id is not None
    chat: ChatPort = ctx.chat
    with ctx.reading() as uow:
        ref = uow.posts.post_ref(incident.id, purpose)
    if ref is not None:
        if isinstance(chat, MessageUpdates):
            chat.update(ref=ref, message=message)
        return ref
    key = f"{purpose}:{incident.id}"
    found = None
    if isinstance(chat, KeyedPosting):
        if effect.attempts > 1:  # an earlier attempt may have posted it before it was cut off
            found = chat.find_posted(channel=channel, key=key, since=incident.declared_at)
        ref = found or chat.post_keyed(channel=channel, message=message, key=key)
    else:
        ref = chat.post(channel=channel, message=message)
    if pin and isinstance(chat, Pinning):  # again on a retry: the cut-off attempt may not have
        chat.pin(channel=channel, message_id=ref)
    with ctx.unit() as uow:
        if not uow.posts.keep_post(incident.id, purpose, ref, at=ctx.now()):
            ref = uow.posts.post_ref(incident.id, purpose) or ref
        elif purpose == ANNOUNCEMENT:
            record(uow, incident, kind="announced", at=ctx.now(), text=channel)
    if found and isinstance(chat, MessageUpdates):  # posted as it was then: show it as it is now
        chat.update(ref=ref, message=message)
    return ref
