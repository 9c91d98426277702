"""Responding to an incident: acknowledge, status updates and their reminders, roles, notes."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from workflows import observe
from workflows.context import Context, record
from workflows.durations import format_duration, parse_duration
from workflows.model import ROLES, Deadline, DeadlineKind, Incident, PageStatus, Stage, State
from workflows.outbox import Effect, EffectKind
from workflows.paging.delivery import incident_paging, settle_page_messages
from workflows.paging.escalation import snooze_escalation
from workflows.paging.test_page import acknowledge_test, is_test
from workflows.ports import Button, InvalidRequest, Message, NotFound
from workflows.render import render
from workflows.stakeholders import notify_stakeholders
from workflows.status_page import publish_update
from workflows.unit import Unit

# Unanswered reminders back off: after the n-th in a row the next waits `update_every` × 2^n,
# at most this long. A reminder every 15 minutes for hours is noise people learn to ignore.
MAX_REMINDER_GAP = timedelta(hours=4)


def acknowledge(
    ctx: Context, *, incident_id: int, person: str, channel: str | None = None
) -> Incident:
    """Acknowledge: stops every pending escalation step and page of the incident.

    `channel`: the paging channel the acknowledgement came by (None: chat), for a test page."""
    with ctx.unit() as uow:
        return acknowledge_in(ctx, uow, incident_id=incident_id, person=person, channel=channel)


def acknowledge_in(
    ctx: Context, uow: Unit, *, incident_id: int, person: str, channel: str | None = None
) -> Incident:
    """`acknowledge` inside a caller's unit of work (an alert acknowledged at its source)."""
    incident = uow.incidents.get_incident(incident_id, for_update=True)
    if is_test(incident):  # `firebell test-page`: only that channel's page is marked
        return acknowledge_test(ctx, uow, incident, person=person, channel=channel)
    if incident.state != State.TRIGGERED:
        by = ctx.display(incident.acknowledged_by) or "someone"
        raise InvalidRequest(f"{incident.ref} is already {incident.state.value} (by {by})")
    now = ctx.now()
    incident.state, incident.acknowledged_at, incident.acknowledged_by = (
        State.ACKNOWLEDGED, now, person,
    )
    uow.incidents.save_incident(incident)
    uow.deadlines.cancel_deadlines(
        incident_id=incident_id, kinds=(DeadlineKind.ESCALATE, DeadlineKind.ACK_DUE)
    )
    cancelled: Counter[str] = Counter()  # by channel: pages that will never go out
    for page in uow.pages.pages(incident_id):
        if page.status == PageStatus.QUEUED:
            page.status = PageStatus.CANCELLED  # not sent yet: no need any more
            cancelled[page.channel] += 1
        elif page.status in (PageStatus.SENT, PageStatus.SENDING) and page.person == person:
            page.status = PageStatus.ACKNOWLEDGED
        else:
            continue
        uow.pages.save_page(page)
    seconds = (now - incident.declared_at).total_seconds()
    uow.after_commit(lambda: _observe_ack(ctx, incident, person, seconds, cancelled))
    after = format_duration(int(seconds))
    record(uow, incident, kind="acknowledged", at=now, actor=person, text=f"after {after}")
    uow.post(incident,
        Message(render("acknowledged", incident=incident, person=ctx.display(person), after=after)),
    )
    uow.refresh(incident)
    settle_page_messages(uow, incident)
    return incident


def _observe_ack(ctx: Context, incident: Incident, person: str, seconds: float,
                 cancelled: Counter[str]) -> None:
    observe.acknowledged(ctx.meter, incident=incident.ref, priority=incident.priority,
                         person=person, after_seconds=seconds)
    for channel, count in cancelled.items():
        observe.pages_settled(ctx.meter, channel=channel, outcome="cancelled", count=count)


def acknowledge_page(
    ctx: Context, *, person: str, incident_id: int | None = None, channel: str | None = None
) -> Incident:
    """Acknowledge from a page reply (an SMS answer, a key pressed in a call): the incident named,
    else the one this person was paged for most recently and nobody acknowledged yet.
    `channel`: the paging channel the reply came by."""
    if incident_id is None:
        with ctx.unit() as uow:
            incident = incident_paging(uow, person=person, incidents=uow.incidents.list_incidents())
        assert incident.id is not None
        incident_id = incident.id
    return acknowledge(ctx, incident_id=incident_id, person=person, channel=channel)



def acknowledge_by_page(ctx: Context, *, page_id: int, person: str) -> Incident:
    """Acknowledge from a page's own button (a Telegram message names its page): only the
    person paged may, through `acknowledge_page`."""
    with ctx.reading() as uow:
        try:
            page = uow.pages.get_page(page_id)
        except NotFound:
            raise InvalidRequest("this page is not known to Firebell") from None
    if page.person != person:
        raise InvalidRequest(f"this page is for {ctx.display(page.person)}: you cannot "
                             "acknowledge it")
    return acknowledge_page(ctx, person=person, incident_id=page.incident_id,
                            channel=page.channel)

AUDIENCES = ("internal", "stakeholders", "public")


def post_status(
    ctx: Context, *, incident_id: int, stage: str, text: str, author: str,
    audience: tuple[str, ...] = ("internal",),
) -> Incident:
    """A status update with its stage; restarts the clock of the update reminder.

    `audience`: who reads it besides the channel (always): "stakeholders" (the announcement's
    thread, the followers of the incident and its service), "public" (the status page)."""
    parsed = Stage.parse(stage)
    unknown = set(audience) - set(AUDIENCES)
    if unknown:
        raise InvalidRequest(f"unknown audience {', '.join(sorted(unknown))}: use "
                             f"{', '.join(AUDIENCES)}")
    audience = tuple(a for a in AUDIENCES if a in {"internal", *audience})
    if "public" in audience and not text.strip():
        raise InvalidRequest("a public update needs words for the status page")
    with ctx.unit() as uow:
        incident = _open_incident(uow, incident_id)
        now = ctx.now()
        incident.stage, incident.last_update_at = parsed, now
        uow.incidents.save_incident(incident)
        record(uow, incident, kind="status_update", at=now, actor=author, text=text,
               data={"stage": parsed.value, "audience": list(audience)})
        uow.post(incident, Message(render(
            "status_update", incident=incident, stage=parsed.value, text=text,
            author=ctx.display(author), audience=audience[1:],
        )))
        if "stakeholders" in audience:
            update = render("stakeholder_update", incident=incident, stage=parsed.value,
                            text=text, private=incident.security)
            uow.owe(Effect(EffectKind.ANNOUNCE, incident.id, {"reply": update}))
            notify_stakeholders(ctx, uow, incident, subject=f"{incident.ref} {parsed.value}: "
                                f"{incident.title}", text=update)
        if "public" in audience:
            publish_update(ctx, uow, incident, stage=parsed.value, text=text)
        uow.refresh(incident)
        uow.deadlines.cancel_deadlines(incident_id=incident_id, kinds=(DeadlineKind.UPDATE_REMINDER,))
        _schedule_reminder(ctx, uow, incident)
    return incident


def remind(
    ctx: Context, uow: Unit, incident: Incident, deadline: Deadline
) -> None:
    """No update within the priority's `update_every`: remind the channel, then again later,
    each unanswered reminder waiting twice as long as the one before (at most
    `MAX_REMINDER_GAP`). Never once the incident is resolved or its last update said Resolved."""
    if not _wants_updates(incident):
        return
    every = ctx.catalog.response_for(incident.priority).update_every
    if every is None:
        return
    count = int(deadline.data.get("reminder", 1))  # unanswered reminders in a row, this one too
    last = incident.last_update_at or incident.declared_at
    since = format_duration(int((ctx.now() - last).total_seconds()))
    gap = _gap(every.seconds, count)
    record(uow, incident, kind="update_reminder", at=ctx.now(), text=f"no update for {since}",
           data={"reminder": count})
    value = str(incident.id)
    uow.post(incident, Message(render(
        "reminder", incident=incident, since=since, every=format_duration(every.seconds),
        commander=ctx.display(incident.commander), next=format_duration(int(gap.total_seconds())),
    ), buttons=(Button("status", "Update status", value, "primary"),
                Button("snooze", "Snooze 30m", value))))
    _schedule_reminder(ctx, uow, incident, after=gap, count=count + 1)


def _wants_updates(incident: Incident) -> bool:
    return incident.is_open and incident.stage != Stage.RESOLVED


def _gap(every_seconds: int, count: int) -> timedelta:
    """How long after the `count`-th unanswered reminder the next one comes."""
    gap = timedelta(seconds=every_seconds) * 2 ** min(count, 16)
    return max(timedelta(seconds=every_seconds), min(gap, MAX_REMINDER_GAP))


def _schedule_reminder(
    ctx: Context, uow: Unit, incident: Incident, *, after: timedelta | None = None, count: int = 1
) -> None:
    every = ctx.catalog.response_for(incident.priority).update_every
    if every is None or incident.id is None or not _wants_updates(incident):
        return
    due = ctx.now() + (after or timedelta(seconds=every.seconds))
    uow.schedule(Deadline(incident.id, DeadlineKind.UPDATE_REMINDER, due, {"reminder": count}))


REMINDER_SNOOZE = timedelta(minutes=30)


def snooze(ctx: Context, *, incident_id: int, person: str, delay: str | None = None) -> str:
    """Snooze what is nagging about the incident: while it pages nobody has acknowledged, the
    escalation (5m by default); after, the status-update reminders (30m by default). A
    conscious delay, on the timeline. Returns what was snoozed and until when."""
    wait = parse_duration(delay).as_timedelta() if delay else None
    with ctx.reading() as uow:
        incident = uow.incidents.get_incident(incident_id)
    if incident.state == State.TRIGGERED:
        until = snooze_escalation(ctx, incident_id=incident_id, person=person,
                                  **({"delay": wait} if wait else {}))
        return f"the escalation of {incident.ref} until {until:%H:%M} UTC"
    wait = wait or REMINDER_SNOOZE
    if wait > MAX_REMINDER_GAP:
        raise InvalidRequest(f"a snooze lasts at most {format_duration(int(MAX_REMINDER_GAP.total_seconds()))}")
    with ctx.unit() as uow:
        incident = _open_incident(uow, incident_id)
        if not _wants_updates(incident) or ctx.catalog.response_for(incident.priority).update_every is None:
            raise InvalidRequest(f"{incident.ref} sends no update reminders")
        pending = [d for d in uow.deadlines.pending_deadlines(incident_id)
                   if d.kind == DeadlineKind.UPDATE_REMINDER]
        count = max([int(d.data.get("reminder", 1)) for d in pending] or [1])
        uow.deadlines.cancel_deadlines(incident_id=incident_id, kinds=(DeadlineKind.UPDATE_REMINDER,))
        _schedule_reminder(ctx, uow, incident, after=wait, count=count)
        seconds = int(wait.total_seconds())
        record(uow, incident, kind="reminders_snoozed", at=ctx.now(), actor=person,
               text=f"update reminders wait {format_duration(seconds)}", data={"seconds": seconds})
    return f"the update reminders of {incident.ref} for {format_duration(seconds)}"


def set_role(ctx: Context, *, incident_id: int, role: str, person: str, actor: str) -> Incident:
    """Give a role (commander, comms, customer, scribe) to a person and invite them."""
    if role not in ROLES:
        raise InvalidRequest(f"unknown role '{role}': use one of {', '.join(ROLES)}")
    ctx.catalog.person(person)  # an unknown person is a clear error, not a silent no-op
    with ctx.unit() as uow:
        incident = _open_incident(uow, incident_id)
        previous = incident.roles.get(role)
        incident.roles[role] = person
        uow.incidents.save_incident(incident)
        text = f"{ROLES[role]}: {ctx.display(person)}" + (
            f" (was {ctx.display(previous)})" if previous else ""
        )
        record(uow, incident, kind="role_set", at=ctx.now(), actor=actor, text=text,
               data={"role": role, "person": person})
        uow.post(incident, Message(render(
            "role_set", role=ROLES[role], person=ctx.display(person),
            previous=ctx.display(previous) if previous else None)))
        uow.invite(incident, [person])
        uow.refresh(incident)
    return incident


def add_note(ctx: Context, *, incident_id: int, text: str, actor: str) -> None:
    if not text.strip():
        raise InvalidRequest("a note needs some text: `/incident note <text>`")
    with ctx.unit() as uow:
        incident = uow.incidents.get_incident(incident_id)
        record(uow, incident, kind="note", at=ctx.now(), actor=actor, text=text.strip())


def _open_incident(uow: Unit, incident_id: int) -> Incident:
    incident = uow.incidents.get_incident(incident_id, for_update=True)
    if incident.state == State.CLOSED:
        raise InvalidRequest(f"{incident.ref} is closed")
    return incident
