"""Action items: follow-up work with an owner and a due date, a ticket when a ticket system is
configured, reminders to the owner once overdue, and a weekly summary per team."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from workflows.business_time import add_business_time, deadline, is_business_time
from workflows.context import Context, record
from workflows.durations import Duration, parse_handoff
from workflows.followup.model import ActionItem, ActionState
from workflows.model import Incident
from workflows.ports import ExternalServiceError, InvalidRequest, Message
from workflows.render import render
from workflows.unit import Unit

_WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_RELATIVE = re.compile(r"^\+?(\d+)\s*([dw])$")


@dataclass(frozen=True)
class Added:
    item: ActionItem
    ticket_error: str | None  # the ticket system failed: tracked in Firebell only
    ticketing: bool  # a ticket system is configured


def parse_due(text: str, *, today: date) -> date:
    """`2026-12-01`, `today`, `tomorrow`, `3d`, `2w`, or a weekday (`fri`: the next Friday)."""
    word = text.strip().lower()
    if word == "today":
        return today
    if word == "tomorrow":
        return today + timedelta(days=1)
    if match := _RELATIVE.match(word):
        amount, unit = int(match.group(1)), match.group(2)
        return today + timedelta(days=amount * (7 if unit == "w" else 1))
    if word[:3] in _WEEKDAYS and word.isalpha():
        ahead = (_WEEKDAYS.index(word[:3]) - today.weekday()) % 7 or 7
        return today + timedelta(days=ahead)
    try:
        return date.fromisoformat(word)
    except ValueError:
        raise InvalidRequest(
            f"cannot read the due date '{text}': write 2026-12-01, tomorrow, 3d, 2w or fri"
        ) from None


def add_action(
    ctx: Context, *, incident_id: int, title: str, owner: str, due_on: date, actor: str,
    open_ticket: bool = True,
) -> Added:
    """Store an action item; with a ticket port (and `open_ticket`), open its ticket once stored."""
    if not title.strip():
        raise InvalidRequest('an action item needs a text: `/incident action "<what>" @owner due <date>`')
    ctx.catalog.person(owner)  # an unknown owner is a clear error
    if due_on < today(ctx):
        raise InvalidRequest(f"the due date {due_on.isoformat()} is in the past")
    with ctx.unit() as uow:
        incident = uow.incidents.get_incident(incident_id, for_update=True)
        item = uow.followups.add_action(ActionItem(
            incident_id=incident_id, team=incident.team, title=title.strip(), owner=owner,
            due_on=due_on, created_at=ctx.now(), created_by=actor,
            next_reminder_at=_first_reminder(ctx, due_on),
        ))
        record(uow, incident, kind="action_added", at=ctx.now(), actor=actor,
               text=f"{item.ref} {item.title} (owner {ctx.display(owner)}, due {due_on.isoformat()})",
               data={"action": item.id})
    if ctx.tickets is None or not open_ticket:
        return Added(item, None, ticketing=False)
    body = render("action_ticket", item=item, incident=incident, owner=ctx.display(owner))
    try:
        ticket = ctx.tickets.open_ticket(incident=incident, body=body)
    except ExternalServiceError as error:
        with ctx.unit() as uow:
            record(uow, incident, kind="ticket_failed", at=ctx.now(), actor=actor,
                   text=f"ticket for {item.ref} failed: {error}", data={"action": item.id})
        return Added(item, str(error), ticketing=True)
    with ctx.unit() as uow:
        item.ticket = ticket
        uow.followups.save_action(item)
    return Added(item, None, ticketing=True)


def complete_action(ctx: Context, *, action_id: int, actor: str) -> ActionItem:
    with ctx.unit() as uow:
        records = uow.followups
        item = records.action(action_id)
        if item is None:
            raise InvalidRequest(f"there is no action item AI-{action_id}")
        if item.state == ActionState.DONE:
            raise InvalidRequest(f"{item.ref} is already done")
        item.state, item.done_at, item.next_reminder_at = ActionState.DONE, ctx.now(), None
        records.save_action(item)
        incident = uow.incidents.get_incident(item.incident_id)
        record(uow, incident, kind="action_done", at=ctx.now(), actor=actor,
               text=f"{item.ref} {item.title}", data={"action": item.id})
    if ctx.tickets is not None and item.ticket:
        ctx.tickets.update_ticket(ticket=item.ticket, incident=incident,
                                  comment=f"Marked done in Firebell by {ctx.display(actor)}.")
    return item


def open_actions(
    ctx: Context, *, incident_id: int | None = None, team: str | None = None,
    owner: str | None = None,
) -> list[ActionItem]:
    with ctx.unit() as uow:
        return uow.followups.actions(incident_id=incident_id, team=team, owner=owner)


def today(ctx: Context) -> date:
    return ctx.now().astimezone(ZoneInfo(ctx.catalog.business_zone)).date()


def remind_overdue(ctx: Context, uow: Unit, item: ActionItem) -> None:
    """An overdue open item: tell its owner, then again every `action_reminder_every`."""
    now = ctx.now()
    policy = ctx.catalog.postmortem
    item.reminders += 1
    item.next_reminder_at = reminder_after(ctx, policy.action_reminder_every)
    uow.followups.save_action(item)
    incident = uow.incidents.get_incident(item.incident_id)
    late = (today(ctx) - item.due_on).days
    text = render("action_reminder", item=item, incident=incident, days=late)
    record(uow, incident, kind="action_overdue", at=now, text=f"{item.ref} overdue by {late} day(s)",
           data={"action": item.id, "owner": item.owner})
    uow.send_direct(person=item.owner, message=Message(text), incident_id=item.incident_id)


def weekly_summaries(ctx: Context) -> int:
    """Each team's open action items, once a week (`postmortem.weekly_summary`, catalog zone),
    in the team's channel. Items created after the week's slot wait for the next one."""
    slot = _last_slot(ctx)
    sent = 0
    for team in ctx.catalog.teams:
        channel = ctx.team_channel(team)
        if not channel:
            continue
        with ctx.unit() as uow:
            records = uow.followups
            items = [i for i in records.actions(team=team.id) if i.created_at <= slot]
            if not items or not records.mark(f"weekly:{team.id}:{slot.date().isoformat()}",
                                             at=ctx.now()):
                continue
            refs = _incident_refs(uow, items)
            text = render("actions_weekly", team=team, items=items, today=today(ctx), refs=refs,
                          owner=ctx.display)
            uow.post_to(channel=channel, message=Message(text),
                        incident_id=items[0].incident_id)
            sent += 1
    return sent


def reminder_after(ctx: Context, every: Duration) -> datetime:
    """`every` from now, moved to a moment when business hours are open (a reminder that falls
    due at closing time waits for the next morning)."""
    hours, zone = ctx.catalog.business_hours, ctx.catalog.business_zone
    due = deadline(hours, start=ctx.now(), duration=every, zone=zone)
    if not every.business or is_business_time(hours, at=due, zone=zone):
        return due.astimezone(UTC)
    return _opening(ctx, due)


def _opening(ctx: Context, after: datetime) -> datetime:
    """The first business moment at or after `after`, in UTC."""
    hours, zone = ctx.catalog.business_hours, ctx.catalog.business_zone
    opening = add_business_time(hours, start=after, seconds=1, zone=zone) - timedelta(seconds=1)
    return opening.astimezone(UTC)


def _incident_refs(uow: Unit, items: list[ActionItem]) -> dict[int, Incident]:
    return {i.incident_id: uow.incidents.get_incident(i.incident_id) for i in items}


def _first_reminder(ctx: Context, due_on: date) -> datetime:
    """The first business moment after the due day ends (business zone)."""
    zone = ctx.catalog.business_zone
    return _opening(ctx, datetime.combine(due_on + timedelta(days=1), time(), ZoneInfo(zone)))


def _last_slot(ctx: Context) -> datetime:
    """The latest weekly-summary moment at or before now."""
    weekday, minute = parse_handoff(ctx.catalog.postmortem.weekly_summary)
    assert weekday is not None  # the catalog checks it
    tz = ZoneInfo(ctx.catalog.timezone)
    local = ctx.now().astimezone(tz)
    day = local.date() - timedelta(days=(local.weekday() - weekday) % 7)
    slot = datetime.combine(day, time(), tz) + timedelta(minutes=minute)
    slot = slot.replace(tzinfo=tz)
    return slot if slot <= local else slot - timedelta(days=7)
