"""`firebell test-page`: a harmless test notification through each of a person's channels, through
the real pagers, so that they can check Do Not Disturb bypass and allowlisting before a real night.

A test is stored as an incident so that its pages have rows and the usual acknowledgements reach
it (an SMS reply, a key pressed, a chat or Telegram button), but it is marked as a test
(`drill` plus the `test` flag) and kept apart from the incident process: no channel, no
escalation, nobody else paged, no ticket, no failover, no metrics, not in the paging report;
an acknowledgement marks the page of the channel it came by and leaves the test open for the
others. The test is closed when the command stops waiting.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import get_args

from workflows.catalog.model import Person
from workflows.catalog.sections import ADDRESSES, NotifyRule
from workflows.context import Context, record
from workflows.model import DIRECT, Incident, Page, PageStatus, State
from workflows.ports import Button, ExternalServiceError, InvalidRequest, Message
from workflows.render import render
from workflows.unit import Unit

TEST_FLAG = "test"
# How the person acknowledges the test on each channel; a channel not named here cannot.
HOW_TO_ACK = {
    "chat": "press Acknowledge", "sms": "reply 1", "voice": "press 1 during the call",
    "telegram": "press Acknowledge", "push": "press Acknowledge on the notification",
}


def is_test(incident: Incident) -> bool:
    """Whether the incident is a test page (`firebell test-page`), not an incident."""
    return incident.drill and TEST_FLAG in incident.flags


class Outcome(StrEnum):
    SENT = "sent"
    FAILED = "failed"
    NOT_CONFIGURED = "not configured"


@dataclass(frozen=True)
class ChannelTest:
    channel: str
    outcome: Outcome
    detail: str = ""  # why it failed or is not configured; how to acknowledge when sent
    page: int | None = None


@dataclass(frozen=True)
class TestPage:
    incident: Incident
    person: Person
    channels: list[ChannelTest]


def personal_channels() -> tuple[str, ...]:
    """Every channel a person can be paged by (those a notification rule may name)."""
    return tuple(get_args(NotifyRule.model_fields["channel"].annotation))


def send_test_page(ctx: Context, *, person: str, channel: str | None = None) -> TestPage:
    """Send a test notification to `person` through each of their channels (or `channel`) and
    say, per channel, whether it was sent, failed (why) or is not configured (why).

    Raises InvalidRequest for an unknown person or channel."""
    who = ctx.catalog.person(person)
    known = personal_channels()
    if channel is not None and channel not in known:
        raise InvalidRequest(f"unknown channel {channel!r}: use one of {', '.join(known)}")
    wanted = [channel] if channel else [c for c in known if who.has_address(c) or c == "chat"]
    results: dict[str, ChannelTest] = {}
    for name in wanted:
        if not who.has_address(name):
            fields = " or ".join(ADDRESSES.get(name, (name,)))
            results[name] = ChannelTest(name, Outcome.NOT_CONFIGURED,
                                        f"{who.id} has no {fields} in the catalog")
        elif name not in ctx.pagers:
            results[name] = ChannelTest(name, Outcome.NOT_CONFIGURED,
                                        f"Firebell has no {name} pager (its settings are unset)")
    now = ctx.now()
    with ctx.unit() as uow:
        incident = uow.incidents.add_incident(_test_incident(ctx, who))
        record(uow, incident, kind="test_page", at=now, actor=who.id,
               text=f"test page for {who.name}", data={"channels": wanted})
        pages = [uow.pages.add_page(Page(incident.id or 0, who.id, name, now, step=DIRECT,
                                         status=PageStatus.SENDING, send_at=now, sent_at=now))
                 for name in wanted if name not in results]
    for page in pages:
        results[page.channel] = _send(ctx, incident, who, page)
    with ctx.unit() as uow:
        for page in pages:
            current = uow.pages.get_page(page.id or 0)
            if current.status != PageStatus.SENDING:  # acknowledged already: keep that
                current.ref = page.ref
                page = current
            uow.pages.save_page(page)
    return TestPage(incident, who, [results[name] for name in wanted])


def acknowledged_channels(ctx: Context, *, incident_id: int) -> set[str]:
    """The channels through which the test's person acknowledged it so far."""
    with ctx.reading() as uow:
        return {p.channel for p in uow.pages.pages(incident_id)
                if p.status == PageStatus.ACKNOWLEDGED}


def end_test_page(ctx: Context, *, incident_id: int) -> None:
    """Close the test: a later acknowledgement is answered that it has ended."""
    with ctx.unit() as uow:
        incident = uow.incidents.get_incident(incident_id, for_update=True)
        if not is_test(incident) or incident.state == State.CLOSED:
            return
        incident.state, incident.closed_at = State.CLOSED, ctx.now()
        uow.incidents.save_incident(incident)
        record(uow, incident, kind="test_page_ended", at=ctx.now(), text="test page ended")


def acknowledge_test(
    ctx: Context, uow: Unit, incident: Incident, *, person: str, channel: str | None
) -> Incident:
    """An acknowledgement of a test page (`channel` None: a chat button or command): marks that
    channel's page acknowledged and nothing else (no state change, post, ticket or metric)."""
    assert incident.id is not None
    if incident.state != State.TRIGGERED:
        raise InvalidRequest(f"the test page {incident.ref} has ended; nothing to acknowledge")
    pages = [p for p in uow.pages.pages(incident.id) if p.channel == (channel or "chat")]
    if not pages or pages[0].person != person:
        raise InvalidRequest(f"{incident.ref} is not your test page by {channel or 'chat'}")
    for page in pages:
        if page.status in (PageStatus.SENT, PageStatus.SENDING):
            page.status = PageStatus.ACKNOWLEDGED
            uow.pages.save_page(page)
    record(uow, incident, kind="test_acknowledged", at=ctx.now(), actor=person,
           text=f"test page acknowledged by {channel or 'chat'}",
           data={"channel": channel or "chat"})
    return incident


def _test_incident(ctx: Context, person: Person) -> Incident:
    """The record a test's pages hang on: a real service and priority of the catalog (so that
    whatever shows it can), marked as a test."""
    if not ctx.catalog.services:
        raise InvalidRequest("the catalog has no service: a test page needs one to name")
    service = ctx.catalog.services[0]
    severity, row = next(iter(ctx.catalog.priorities.matrix.items()))
    urgency, priority = next(iter(row.items()))
    return Incident(
        title=f"[TEST] test page for {person.name}", service=service.id, team=service.team,
        severity=severity, urgency=urgency, environment="test", priority=priority,
        declared_at=ctx.now(), declared_by=person.id, drill=True, flags=[TEST_FLAG],
        description="firebell test-page: not an incident",
    )


def _send(ctx: Context, incident: Incident, person: Person, page: Page) -> ChannelTest:
    how = HOW_TO_ACK.get(page.channel)
    text = render("test_page", person=person.name, channel=page.channel, how=how)
    message = Message(text, title=f"[TEST] Firebell test page for {person.name}",
                      buttons=(Button("ack", "Acknowledge", str(incident.id), "primary"),),
                      tone="warning")
    try:
        page.ref = ctx.pagers[page.channel].send_page(page=page, incident=incident,
                                                      message=message)
    except ExternalServiceError as error:
        page.status, page.error, page.sent_at = PageStatus.FAILED, str(error), None
        return ChannelTest(page.channel, Outcome.FAILED, str(error), page.id)
    page.status, page.sent_at = PageStatus.SENT, ctx.now()
    detail = (f"to acknowledge: {how}" if how else
              f"acknowledging is not possible by {page.channel}: only whether it arrived")
    return ChannelTest(page.channel, Outcome.SENT, detail, page.id)
