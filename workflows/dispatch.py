"""The dispatcher: claims effect rows under a lease, performs each once, marks it done.

Every effect is performed so that doing it again after a crash or a lost answer changes nothing:
- a page goes through its own row's claim (`queued -> sending`); a page found `sending` by a
  later attempt is settled by asking the provider whether it took it (`paging.deliver_page`);
- a channel is looked for by its name (which carries the incident's number) before it is made;
- a post carries its effect's key; a later attempt looks for that key in the channel first;
- a ticket is looked for by the incident's reference before one is opened;
- invites and topics are the same whenever they are repeated.

A lease outlives the whole retry budget of one attempt (`LEASE_SECONDS`), so nobody takes an
effect over while its first attempt may still be talking to the vendor.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta

from workflows import observe
from workflows.context import Context, record
from workflows.home import publish_homes
from workflows.incident.bridge import BRIDGE_TITLE
from workflows.incident.card import refresh_announcement, refresh_card
from workflows.intake.tickets import open_ticket
from workflows.model import Incident, channel_name
from workflows.outbox import ClaimedEffect, Effect, EffectKind, message_from
from workflows.paging.clock_rules import met_clocks, running_clocks
from workflows.paging.delivery import deliver_page, settle_pages
from workflows.ports import (
    Bookmarks,
    ChannelLookup,
    ExternalServiceError,
    FileUpload,
    FirebellError,
    KeyedPosting,
    MessageUpdates,
    NotFound,
    Pinning,
    PlatformChats,
    UserGroups,
)
from workflows.render import render
from workflows.stakeholders import send_email
from workflows.status_page import sync_status_page

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8  # then the effect is given up and the failure goes on the incident's timeline


def claim(ctx: Context, *, owner: str, limit: int) -> list[ClaimedEffect]:
    """Lease up to `limit` effects that are due (in their own short transaction)."""
    with ctx.unit() as uow:
        return uow.outbox.claim_effects(now=ctx.now(), owner=owner, limit=limit,
                                lease_seconds=ctx.leases)


def perform(
    ctx: Context, effect: ClaimedEffect, *, owner: str,
    done: Callable[[ClaimedEffect, str | None], None] | None = None,
) -> None:
    """Perform one held effect and record the outcome; failures go on the incident's record.

    `done`: who marks a performed effect done (the dispatcher batches those writes); None
    writes it here, in a transaction of its own.
    """
    try:
        result = PERFORMERS[effect.kind](ctx, effect)
    except ExternalServiceError as error:
        observe.external_error(ctx.meter, service=SERVICES.get(effect.kind, "chat"))
        if error.retryable and effect.attempts < MAX_ATTEMPTS:
            backoff = min(2 ** effect.attempts, 60)
            with ctx.unit() as uow:
                uow.outbox.retry_effect(effect.id, owner=owner,
                                        at=ctx.now() + timedelta(seconds=backoff), error=str(error))
            ctx.timers.wake_at(ctx.now() + timedelta(seconds=backoff))
            log.warning("%s for incident %s failed, retrying in %ss: %s", effect.kind.value,
                        effect.incident_id, backoff, error)
            return
        _give_up(ctx, effect, owner=owner, error=str(error))
        return
    except FirebellError as error:
        _give_up(ctx, effect, owner=owner, error=str(error))
        return
    if done is not None:
        done(effect, result if isinstance(result, str) else None)
        return
    with ctx.unit() as uow:
        uow.outbox.finish_effect(effect.id, owner=owner, status="done", at=ctx.now(),
                                 result=result if isinstance(result, str) else None)


_draining = threading.local()


def inline(ctx: Context) -> None:
    """`Context.dispatch` for the console, the demo and tests: the committing thread performs
    the effects it committed before it returns (an outer drain on this thread picks up the
    effects its own effects commit)."""
    if getattr(_draining, "active", False):
        return
    _draining.active = True
    try:
        drain(ctx, owner=f"inline-{threading.get_ident()}")
    finally:
        _draining.active = False


def drain(ctx: Context, *, owner: str, limit: int = 10_000) -> int:
    """Perform every due effect in this thread, one after another (console, demo, tests)."""
    done = 0
    while done < limit:
        batch = claim(ctx, owner=owner, limit=50)
        if not batch:
            break
        for effect in batch:
            perform(ctx, effect, owner=owner)
            done += 1
    return done


def _give_up(ctx: Context, effect: ClaimedEffect, *, owner: str, error: str) -> None:
    log.warning("%s for incident %s failed: %s", effect.kind.value, effect.incident_id, error)
    with ctx.unit() as uow:
        if not uow.outbox.finish_effect(effect.id, owner=owner, status="failed", at=ctx.now(), error=error):
            return
        if effect.incident_id is None:
            return
        incident = uow.incidents.get_incident(effect.incident_id)
        kind = "channel_failed" if effect.kind == EffectKind.CREATE_CHANNEL else "delivery_failed"
        # Not swallowed: the failure goes on the incident's record, where people look.
        record(uow, incident, kind=kind, at=ctx.now(), text=f"{effect.kind.value.replace('_', ' ')} "
               f"failed: {error}", data={"effect": effect.id})


# performers ----------------------------------------------------------------------------------
def _incident(ctx: Context, effect: ClaimedEffect) -> Incident:
    if effect.incident_id is None:
        raise NotFound(f"{effect.kind.value} effect {effect.id} names no incident")
    with ctx.reading() as uow:
        return uow.incidents.get_incident(effect.incident_id)


def _create_channel(ctx: Context, effect: ClaimedEffect) -> str | None:
    incident = _incident(ctx, effect)
    if incident.channel:
        return incident.channel
    name = channel_name(incident)
    # With Slack and Teams both on, the channel is made on the incident's own platform.
    chat = ctx.chat.chat_for(incident) if isinstance(ctx.chat, PlatformChats) else ctx.chat
    channel = None
    if effect.attempts > 1 and isinstance(chat, ChannelLookup):
        # An earlier attempt may have made it before it lost the answer or the process.
        channel = chat.find_channel(name=name)
    channel = channel or chat.create_channel(name=name, private=incident.security)
    with ctx.unit() as uow:
        incident = uow.incidents.get_incident(incident.id or 0, for_update=True)
        if incident.channel:
            return incident.channel
        incident.channel = channel
        uow.incidents.save_incident(incident)
        record(uow, incident, kind="channel_created", at=ctx.now(), text=channel)
        # Homes are published out of order and may have gone out before the channel existed:
        # once more, now with its link (topic, card and announcement wait for the channel).
        uow.owe(Effect(EffectKind.HOME, incident.id, {}))
        if incident.bridge:
            uow.owe(Effect(EffectKind.BOOKMARK, incident.id, {}))
    return channel


def _post(ctx: Context, effect: ClaimedEffect) -> str | None:
    channel = effect.payload.get("channel")
    if not channel and effect.incident_id is not None:
        incident = _incident(ctx, effect)
        channel = incident.channel or ctx.team_channel(ctx.catalog.team(incident.team))
    if not channel:
        return None  # no channel of the incident's, and its team names none on this platform
    message = message_from(effect.payload["message"])
    if isinstance(ctx.chat, KeyedPosting):
        if effect.attempts > 1:
            found = ctx.chat.find_posted(channel=channel, key=effect.key, since=effect.created_at)
            if found:
                return found
        return ctx.chat.post_keyed(channel=channel, message=message, key=effect.key)
    return ctx.chat.post(channel=channel, message=message)


def _direct(ctx: Context, effect: ClaimedEffect) -> str:
    message = message_from(effect.payload["message"])
    return ctx.chat.send_direct(person=str(effect.payload["person"]), message=message)


def _invite(ctx: Context, effect: ClaimedEffect) -> None:
    incident = _incident(ctx, effect)
    if not incident.channel:
        return
    people = [str(p) for p in effect.payload.get("people", [])]
    if people:
        ctx.chat.invite(channel=incident.channel, people=people)


def _topic(ctx: Context, effect: ClaimedEffect) -> None:
    incident = _incident(ctx, effect)
    if not incident.channel:
        return
    # Rendered now, from the incident as it is now: a late topic is never an old one.
    with ctx.reading() as uow:
        met = met_clocks(uow, incident)
    clocks = running_clocks(ctx.catalog, incident, now=ctx.now(), met=met)
    topic = render("topic", incident=incident, commander=ctx.display(incident.commander),
                   clocks=clocks, zone=ctx.catalog.timezone, short=True)
    ctx.chat.set_topic(channel=incident.channel, topic=topic)


def _bookmark(ctx: Context, effect: ClaimedEffect) -> None:
    incident = _incident(ctx, effect)
    chat = ctx.chat.chat_for(incident) if isinstance(ctx.chat, PlatformChats) else ctx.chat
    # The bridge as it is now; where the platform has no bookmarks, the card's link shows it.
    if incident.channel and incident.bridge and isinstance(chat, Bookmarks):
        chat.set_bookmark(channel=incident.channel, title=BRIDGE_TITLE, url=incident.bridge)


def _page(ctx: Context, effect: ClaimedEffect) -> None:
    deliver_page(ctx, int(effect.payload["page"]), retry=effect.attempts > 1,
                 reason=str(effect.payload.get("reason") or ""))


def _open_ticket(ctx: Context, effect: ClaimedEffect) -> str | None:
    return open_ticket(ctx, effect.incident_id or 0)


def _update_ticket(ctx: Context, effect: ClaimedEffect) -> None:
    if ctx.tickets is None:
        return
    incident = _incident(ctx, effect)
    ticket = str(effect.payload.get("ticket") or incident.ticket or "")
    if ticket:
        ctx.tickets.update_ticket(ticket=ticket, incident=incident,
                                  comment=str(effect.payload["comment"]))


def _upload(ctx: Context, effect: ClaimedEffect) -> str | None:
    if not isinstance(ctx.chat, FileUpload):
        return None
    p = effect.payload
    file_id = ctx.chat.upload(channel=str(p["channel"]), filename=str(p["filename"]),
                              title=str(p["title"]), content=str(p["content"]))
    if p.get("pin") and isinstance(ctx.chat, Pinning):
        ctx.chat.pin(channel=str(p["channel"]), message_id=file_id)
    return file_id


def _user_group(ctx: Context, effect: ClaimedEffect) -> None:
    if isinstance(ctx.chat, UserGroups):
        ctx.chat.set_user_group(group=str(effect.payload["group"]),
                                people=[str(p) for p in effect.payload["people"]])


def _edit(ctx: Context, effect: ClaimedEffect) -> None:
    key = str(effect.payload["of"])
    with ctx.reading() as uow:
        outcome = uow.outbox.effect_outcome(key)
    if outcome is None or outcome[0] == "failed" or not isinstance(ctx.chat, MessageUpdates):
        return  # never posted, or not editable here: nothing shows it
    status, ref = outcome
    if status != "done":
        raise ExternalServiceError(f"the message {key} is not posted yet", retryable=True)
    if ref:
        ctx.chat.update(ref=ref, message=message_from(effect.payload["message"]))


def _settle_pages(ctx: Context, effect: ClaimedEffect) -> None:
    settle_pages(ctx, _incident(ctx, effect).id or 0)


# Whose failure an effect's failure is (external_errors_total{service}); the rest are chat's.
SERVICES: dict[EffectKind, str] = {
    EffectKind.PAGE: "pager",
    EffectKind.SETTLE_PAGES: "pager",
    EffectKind.OPEN_TICKET: "tickets",
    EffectKind.UPDATE_TICKET: "tickets",
    EffectKind.EMAIL: "email",
    EffectKind.STATUS_PAGE: "status_page",
}

PERFORMERS: dict[EffectKind, Callable[[Context, ClaimedEffect], object]] = {
    EffectKind.CREATE_CHANNEL: _create_channel,
    EffectKind.POST: _post,
    EffectKind.DIRECT: _direct,
    EffectKind.INVITE: _invite,
    EffectKind.TOPIC: _topic,
    EffectKind.PAGE: _page,
    EffectKind.OPEN_TICKET: _open_ticket,
    EffectKind.UPDATE_TICKET: _update_ticket,
    EffectKind.UPLOAD: _upload,
    EffectKind.USER_GROUP: _user_group,
    EffectKind.SETTLE_PAGES: _settle_pages,
    EffectKind.CARD: refresh_card,
    EffectKind.ANNOUNCE: refresh_announcement,
    EffectKind.HOME: publish_homes,
    EffectKind.EMAIL: send_email,
    EffectKind.STATUS_PAGE: sync_status_page,
    EffectKind.EDIT: _edit,
    EffectKind.BOOKMARK: _bookmark,
}
