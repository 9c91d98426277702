"""Pages: who is reached through which channel and when, delivered once, failing over fast.

A page is a row, and its delivery an effect row (workflows/outbox.py), both written in the
transaction that decided to page. The dispatcher performs the effect: it claims the page
(`queued -> sending`), sends it and records what the provider answered.

A crash (or a lease lost) between claiming a page and recording the answer leaves it `sending`
("in doubt": was it sent?). The effect's lease outlives the whole retry budget of one attempt, so
only when it ran out does the next attempt of the effect find the page `sending`: it asks the
provider (`PageLookup`), marks a page it took sent, and sends one it never saw again. Neither
lost nor sent twice, and never "in doubt" while the first attempt is still talking to Twilio.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Protocol, runtime_checkable

from workflows import observe
from workflows.catalog.model import Catalog, Person
from workflows.context import Context, record
from workflows.durations import format_duration
from workflows.model import DIRECT, Incident, Page, PageStatus, State, channel_name
from workflows.outbox import Effect, EffectKind
from workflows.paging.test_page import is_test
from workflows.ports import Button, ExternalServiceError, InvalidRequest, Message, NotFound
from workflows.render import render
from workflows.unit import Unit

PHONE_CHANNELS = ("sms", "voice")
# Channels tried only for a person the catalog gives an address for them (ADDRESSES); chat and
# email are always tried (their delivery fails, and falls over, when nobody can be reached).
ADDRESSED = (*PHONE_CHANNELS, "telegram", "push")
# Delivery states a provider reports that mean the person was not reached.
UNDELIVERED = frozenset({"failed", "undelivered", "busy", "no-answer", "canceled"})
_PHONE = re.compile(r"\+?\d[\d ().-]{5,}\d")


@runtime_checkable
class PageLookup(Protocol):
    """Optional pager capability: find what the provider accepted for a page we lost track of."""

    def find_sent(self, *, page: Page, since: datetime) -> list[str]:
        """References of deliveries the provider took since `since` that may be this page,
        oldest first. Raises ExternalServiceError."""
        ...

    def shared(self, page: Page, other: Page) -> bool:
        """True if `find_sent` for `page` may return what was sent for `other` (e.g. calls to
        one person carry nothing that tells them apart)."""
        ...


@runtime_checkable
class PageUpdates(Protocol):
    """Optional pager capability: replace the messages of pages it sent (a Teams card) once
    the incident is acknowledged or resolved, so no stale Acknowledge button stays live."""

    def acknowledged(self, pages: Iterable[Page], *, incident: Incident, text: str) -> None:
        """Raises ExternalServiceError."""
        ...


@dataclass(frozen=True)
class PlannedPage:
    person: str
    channel: str
    delay_seconds: int


def notification_plan(
    catalog: Catalog, *, incident: Incident, person: Person, available: frozenset[str]
) -> list[PlannedPage]:
    """Through which channels, and after how long, a person is paged for an incident.

    The person's own `notify` rules win over the priority's channels; a drill pages by chat
    only; a channel needs a pager and, for SMS and voice, a phone number (for push, an ntfy
    topic or a Pushover user key).
    """
    if incident.drill:
        rules = [("chat", 0)]
    elif person.notify:
        rules = [(rule.channel, rule.after.seconds) for rule in person.notify]
    else:
        rules = [(c, 0) for c in catalog.response_for(incident.priority).channels]
    usable = [
        PlannedPage(person.id, channel, delay)
        for channel, delay in rules
        if channel in available and reachable(person, channel)
    ]
    if not usable and "chat" in available:
        usable = [PlannedPage(person.id, "chat", 0)]  # never page nobody for want of a rule
    return usable


def reachable(person: Person, channel: str) -> bool:
    """Whether `channel` is worth trying for `person`: one that needs an address has one."""
    return channel not in ADDRESSED or person.has_address(channel)


def queue_pages(
    ctx: Context,
    uow: Unit,
    incident: Incident,
    *,
    people: list[str],
    step: int,
    round: int,
    reason: str = "",
) -> None:
    """Store the pages of each person's plan, then deliver the immediate ones after commit.

    `reason`: why a page outside the escalation (step DIRECT) is sent, shown in the page."""
    assert incident.id is not None
    now = ctx.now()
    available = frozenset(ctx.pagers)
    for person_id in people:
        person = ctx.catalog.person(person_id)
        for planned in notification_plan(ctx.catalog, incident=incident, person=person,
                                         available=available):
            send_at = now + timedelta(seconds=planned.delay_seconds)
            page = uow.pages.add_page(Page(incident.id, person_id, planned.channel, now, step=step,
                                    round=round, send_at=send_at))
            later = f" in {format_duration(planned.delay_seconds)}" if planned.delay_seconds else ""
            record(
                uow, incident, kind="paged", at=now, actor=person_id,
                text=f"{person.name} paged by {planned.channel}{later}",
                data={"page": page.id, "channel": planned.channel, "step": step, "round": round,
                      "send_at": send_at.isoformat()},
            )
            assert page.id is not None
            uow.owe(delivery(incident.id, page.id, at=send_at if planned.delay_seconds
                                    else None, reason=reason))


def delivery(
    incident_id: int, page_id: int, *, at: datetime | None = None, reason: str = ""
) -> Effect:
    """The effect that delivers a page (at `at`, or at once), beside the incident's other effects."""
    payload: dict[str, object] = {"page": page_id}
    if reason:
        payload["reason"] = reason
    return Effect(EffectKind.PAGE, incident_id, payload, not_before=at)


def deliver_page(ctx: Context, page_id: int, *, retry: bool = False, reason: str = "") -> None:
    """Send one queued page through its pager. Claimed first, so it goes out once.

    `retry`: an earlier attempt of this delivery was cut off; a page it left `sending` is
    settled with the provider instead of being sent blindly.
    """
    claimed_at = ctx.now()
    with ctx.unit() as uow:
        # While `sending`, sent_at is when this attempt began: settling goes by it.
        page = uow.pages.claim_page(page_id, claimed_at=claimed_at)
        if page is None:
            current = uow.pages.get_page(page_id)
        else:
            incident = uow.incidents.get_incident(page.incident_id)
    if page is None:
        if retry and current.status == PageStatus.SENDING and current.sent_at is not None:
            _settle(ctx, current)
        return
    stale = _stale(page, incident)
    if stale:
        page.status, page.sent_at, page.error = PageStatus.CANCELLED, None, stale
        with ctx.unit() as uow:
            uow.pages.save_page(page)
            uow.after_commit(partial(observe.pages_settled, ctx.meter, channel=page.channel,
                                     outcome="cancelled", count=1))
        return
    ack_within = format_duration(ctx.catalog.response_for(incident.priority).ack_within.seconds)
    if incident.channel is not None and page.channel == "chat":
        where: str | None = ctx.chat.channel_link(incident.channel)
    elif incident.channel is not None or ctx.catalog.response_for(incident.priority).page:
        # A phone shows the name people see in the chat; a first page, sent beside the
        # channel's creation rather than after it, names the channel being made.
        where = "#" + channel_name(incident)
    else:
        where = None
    text = render(
        "page", incident=incident, step=page.step, round=page.round, ack_within=ack_within,
        channel_ref=where, direct=page.step == DIRECT, reason=reason,
        acknowledged=incident.state != State.TRIGGERED, why=why_paged(ctx, incident, page),
    )
    try:
        page.ref = ctx.pagers[page.channel].send_page(
            page=page, incident=incident, message=page_message(ctx, incident, text))
        page.status, page.sent_at = PageStatus.SENT, ctx.now()
    except ExternalServiceError as error:
        page.status, page.error = PageStatus.FAILED, str(error)
    outcome = "sent" if page.status == PageStatus.SENT else "failed"
    with ctx.unit() as uow:
        # One statement while it is still ours (`sending`), as it nearly always is.
        if not uow.pages.finish_page(page):
            # Acknowledged (or resolved as in doubt) meanwhile: keep that, add what we learnt.
            current = _page(uow, page)
            current.ref, current.sent_at = current.ref or page.ref, page.sent_at
            page = current
            uow.pages.save_page(page)
        uow.after_commit(_observe_page(ctx, uow, incident, page, outcome=outcome))
        if page.status == PageStatus.FAILED:
            _page_failed(ctx, uow, incident, page, why=page.error or "failed")


def _settle(ctx: Context, page: Page) -> None:
    """A page an earlier attempt left `sending`: ask the provider whether it took it; if the
    provider cannot be asked now, the effect is retried (ExternalServiceError goes up)."""
    assert page.sent_at is not None
    try:
        _settle_in_doubt(ctx, page, page.sent_at)
    except ExternalServiceError as error:
        with ctx.unit() as uow:
            record(uow, uow.incidents.get_incident(page.incident_id), kind="delivery_failed",
                   at=ctx.now(), text=f"page {page.id} in doubt, provider not asked: {error}")
        raise


def _settle_in_doubt(ctx: Context, page: Page, claimed_at: datetime) -> None:
    if page.ref is not None:
        # The provider reported on it already (its callback named the page): it was sent.
        with ctx.unit() as uow:
            current = _page(uow, page)
            if current.status == PageStatus.SENDING and current.sent_at == claimed_at:
                current.status = PageStatus.SENT
                uow.pages.save_page(current)
                incident = uow.incidents.get_incident(page.incident_id)
                uow.after_commit(_observe_page(ctx, uow, incident, current, outcome="sent"))
                record(uow, incident, kind="page_in_doubt",
                       at=ctx.now(), actor=page.person, data={"page": page.id, "ref": page.ref},
                       text=f"{page.channel} page to {page.person} was reported by the provider "
                            f"({page.ref}): sent")
        return
    pager = ctx.pagers.get(page.channel)
    # A pager that cannot tell what it sent gets the page again: twice beats never.
    refs: list[str] = (
        pager.find_sent(page=page, since=claimed_at) if isinstance(pager, PageLookup) else []
    )
    with ctx.unit() as uow:
        current = _page(uow, page)
        if current.status != PageStatus.SENDING or current.sent_at != claimed_at:
            return
        incident = uow.incidents.get_incident(page.incident_id)
        unused = [r for r in refs if uow.pages.page_by_ref(r) is None]
        if isinstance(pager, PageLookup):
            # Deliveries that do not name their page go to the pages in doubt in claim order:
            # the earlier claims took the earlier deliveries (a later claim must not take the
            # delivery of an earlier page whose own settling comes later).
            ahead = [p for p in uow.pages.in_doubt(person=page.person, channel=page.channel)
                     if p.id != page.id and pager.shared(page, p)
                     and (p.sent_at or claimed_at, p.id or 0) < (claimed_at, page.id or 0)]
            unused = unused[len(ahead):]
        ref = unused[0] if unused else None
        if ref is not None:
            current.status, current.ref = PageStatus.SENT, ref
            text = f"{page.channel} page to {page.person} found sent ({ref}) after a restart"
        else:
            current.status, current.sent_at, current.send_at = PageStatus.QUEUED, None, ctx.now()
            text = (f"{page.channel} page to {page.person} was cut off (restart or lost answer) "
                    "and the provider has no trace of it: sending again")
        uow.pages.save_page(current)
        if ref is not None:
            uow.after_commit(_observe_page(ctx, uow, incident, current, outcome="sent"))
        record(uow, incident, kind="page_in_doubt", at=ctx.now(), actor=page.person, text=text,
               data={"page": page.id, "ref": ref})
        if ref is None:
            assert current.id is not None
            uow.owe(delivery(page.incident_id, current.id))


def _observe_page(
    ctx: Context, uow: Unit, incident: Incident, page: Page, *, outcome: str
) -> Callable[[], None]:
    """The log line and count of a delivery that ended. `attempt`: how many times this person
    was paged through this channel for the incident, this page included."""
    attempt = uow.pages.attempts(page)
    # The pager's reason, with any phone number in it cut to its last digits.
    error = (_PHONE.sub(lambda m: "..." + m.group()[-2:], page.error or "failed")
             if outcome == "failed" else None)
    return lambda: observe.page_sent(ctx.meter, incident=incident.ref, person=page.person,
                                     channel=page.channel, attempt=attempt, outcome=outcome,
                                     error=error)


def _page(uow: Unit, page: Page) -> Page:
    assert page.id is not None
    return uow.pages.get_page(page.id)


def _stale(page: Page, incident: Incident) -> str | None:
    """Why a claimed page should not go out any more, if it should not."""
    if page.step == DIRECT:
        return None  # manual, group and clock pages stand outside the escalation
    if incident.state != State.TRIGGERED:
        return "acknowledged before it was sent"
    if (page.round, page.step) < (incident.escalation_round, incident.escalation_step):
        # A delayed channel of an earlier step (e.g. after a long downtime): the escalation has
        # moved on, and its current step pages the people who matter now.
        return "the escalation moved on before it was sent"
    return None


def record_delivery(
    ctx: Context, *, ref: str, status: str, error: str | None = None, page_id: int | None = None
) -> Page | None:
    """A provider's delivery report (e.g. a Twilio status callback). Undelivered: fail over now.

    `page_id`: the page the report names (Twilio keeps it in the callback URL). A report for a
    page that has no reference yet (its sender was cut off before it learnt one) gives it that
    reference: the page is known sent and is never sent again.
    """
    with ctx.unit() as uow:
        page = uow.pages.page_by_ref(ref)
        if page is None and page_id is not None:
            try:
                named = uow.pages.get_page(page_id)
            except NotFound:
                return None
            if named.ref is None and named.status in (PageStatus.SENDING, PageStatus.SENT):
                named.ref, page = ref, named
        if page is None:
            return None
        page.provider_status = status
        incident = uow.incidents.get_incident(page.incident_id, for_update=True)
        failed = status in UNDELIVERED and page.status == PageStatus.SENT
        if failed:
            page.status, page.error = PageStatus.FAILED, error or status
        uow.pages.save_page(page)
        if failed:
            _page_failed(ctx, uow, incident, page, why=page.error or status)
    return page


def _page_failed(ctx: Context, uow: Unit, incident: Incident, page: Page, *, why: str) -> None:
    """A page did not reach its person: on the timeline, said in the channel (who could not be
    reached, how, why: e.g. not installed in Teams), and the person's next channel tried now."""
    record(uow, incident, kind="page_failed", at=ctx.now(), actor=page.person,
           text=f"page by {page.channel} to {page.person} failed: {why}")
    if is_test(incident):
        return  # `firebell test-page` reports it; a test has no channel and no next channel
    instead = _fail_over(ctx, uow, incident, page)
    uow.post(incident, Message(render(
        "page_failed", person=ctx.display(page.person), channel=page.channel, why=why,
        instead=instead.channel if instead else None)))


def _fail_over(
    ctx: Context, uow: Unit, incident: Incident, failed: Page
) -> Page | None:
    """Reach the person through their next channel at once instead of waiting for the timeout;
    returns that page, if there is a next channel."""
    if (failed.step != DIRECT and incident.state != State.TRIGGERED) or incident.id is None:
        return None
    waiting = [
        p for p in uow.pages.pages(incident.id)
        if p.person == failed.person and p.status == PageStatus.QUEUED
        and (p.step, p.round) == (failed.step, failed.round)
    ]
    if waiting:
        page = min(waiting, key=lambda p: p.send_at or p.created_at)
        page.send_at = ctx.now()
        uow.pages.save_page(page)
    else:
        tried = {p.channel for p in uow.pages.pages(incident.id)
                 if p.person == failed.person and (p.step, p.round) == (failed.step, failed.round)}
        order = [c for c in ("voice", "sms", "chat") if c in ctx.pagers and c not in tried]
        person = ctx.catalog.person(failed.person)
        order = [c for c in order if reachable(person, c)]
        if not order:
            return None
        page = uow.pages.add_page(Page(incident.id, failed.person, order[-1], ctx.now(), step=failed.step,
                                round=failed.round, send_at=ctx.now()))
    record(uow, incident, kind="page_failover", at=ctx.now(), actor=page.person,
           text=f"{failed.channel} failed: trying {page.channel} now")
    assert page.id is not None
    uow.owe(delivery(incident.id, page.id))
    return page


def incident_paging(uow: Unit, *, person: str, incidents: list[Incident]) -> Incident:
    """The open, unacknowledged incident a person was paged for most recently."""
    paged: list[tuple[datetime, Incident]] = []
    for incident in incidents:
        if incident.state != State.TRIGGERED or incident.id is None:
            continue
        times = [p.created_at for p in uow.pages.pages(incident.id) if p.person == person]
        if times:
            paged.append((max(times), incident))
    if not paged:
        raise InvalidRequest(f"{person} has no unacknowledged page")
    # A real incident before a test page (`firebell test-page`): "1" never acks a test instead.
    return max(paged, key=lambda pair: (not is_test(pair[1]), pair[0]))[1]


def page_message(ctx: Context, incident: Incident, text: str) -> Message:
    """What a page says where it can show more than words (a chat DM): a header in the
    priority's colour, the way into the channel, the runbook and dashboards, and the actions
    of someone just woken: Acknowledge, Escalate (hand it to the next step now), Snooze 5m."""
    service = ctx.catalog.service(incident.service)
    links = [("Open the channel", url) for url in
             [ctx.chat.channel_url(incident.channel) if incident.channel else None] if url]
    links += [("Runbook", service.runbook)] if service.runbook else []
    links += [("Dashboard", url) for url in service.dashboards]
    value = str(incident.id)
    buttons = (ack_button(incident), Button("pass", "Escalate", value),
               Button("snooze", "Snooze 5m", value))
    drill = "[DRILL] " if incident.drill else ""
    return Message(text, buttons=buttons, links=tuple(links),
                   title=f"{drill}Paged: {incident.ref} ({incident.priority}) {incident.title}",
                   tone="critical" if incident.priority == "P1" else "warning")


def why_paged(ctx: Context, incident: Incident, page: Page) -> str | None:
    """Why this person: the escalation step that named them and the schedules or people in it."""
    if page.step == DIRECT or page.step >= len(incident.policy):
        return None
    names = []
    for target in incident.policy[page.step].targets:
        kind, _, name = target.partition(":")
        try:
            if kind == "schedule":
                names.append(ctx.catalog.schedule(name).name or name)
            elif kind == "team":
                names.append(f"team {ctx.catalog.team(name).name}")
            elif kind == "group":
                names.append(f"group {name}")
            else:
                names.append(ctx.display(name or kind) or target)
        except LookupError:
            names.append(target)  # renamed since the incident began: as it was then
    return (f"step {page.step + 1} of {len(incident.policy)} of the escalation policy "
            f"({', '.join(names)})")


def ack_button(incident: Incident) -> Button:
    return Button("ack", "Acknowledge", str(incident.id), "primary")


def settle_page_messages(uow: Unit, incident: Incident) -> None:
    """Owe the replacement of the incident's sent page messages (acknowledged or resolved)."""
    assert incident.id is not None
    uow.owe(Effect(EffectKind.SETTLE_PAGES, incident.id, {"state": incident.state.value}))


def settle_pages(ctx: Context, incident_id: int) -> None:
    """Replace the page messages every capable pager sent for the incident."""
    with ctx.reading() as uow:
        incident = uow.incidents.get_incident(incident_id)
        pages = [p for p in uow.pages.pages(incident_id) if p.ref]
    by = ctx.display(incident.acknowledged_by) if incident.acknowledged_by else None
    text = render("page_settled", incident=incident, by=by, zone=ctx.catalog.timezone)
    for pager in {id(p): p for p in ctx.pagers.values()}.values():
        if isinstance(pager, PageUpdates):
            pager.acknowledged(pages, incident=incident, text=text)
