"""Issue 4 in the workflows: notification rules, fail-over, groups, reassignment, maintenance,
business-hours deadlines for queued signals, notification clocks. Both databases, fake clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from storage.store import SqlStore
from tests.support.catalogs import paging_catalog
from tests.support.world import World
from workflows.deadlines import run_due
from workflows.incident import involve, lifecycle, respond
from workflows.model import PageStatus, State
from workflows.paging import clocks
from workflows.paging import delivery as paging


@pytest.fixture
def make_world(store: SqlStore) -> Iterator[object]:
    def make(start: datetime, text: str | None = None) -> World:
        return World.for_paging(store, start, catalog=text or paging_catalog(), channels=("chat", "sms", "voice"))

    yield make


TUESDAY = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)


def test_personal_rules_delay_channels_and_ack_cancels_the_rest(make_world) -> None:  # type: ignore[no-untyped-def]
    text = paging_catalog().replace(
        'slack: UALICE, phone: "+15550100001"}',
        'slack: UALICE, phone: "+15550100001", notify: [{channel: chat}, {channel: sms, after: 1m}, {channel: voice, after: 3m}]}',
    )
    world = make_world(TUESDAY, text)
    incident_id = world.declare_id()
    assert world.pager.sent == [("alice", "chat", incident_id)]
    world.advance(seconds=59)
    assert len(world.pager.sent) == 1
    world.advance(seconds=1)
    assert world.pager.sent[-1] == ("alice", "sms", incident_id)
    respond.acknowledge(world.ctx, incident_id=incident_id, person="alice")
    world.advance(minutes=10)
    assert [c for p, c, _ in world.pager.sent] == ["chat", "sms"]
    assert ("alice", "voice", PageStatus.CANCELLED) in world.pages(incident_id)


def test_failed_channel_falls_over_at_once(make_world) -> None:  # type: ignore[no-untyped-def]
    text = paging_catalog().replace(
        'slack: UALICE, phone: "+15550100001"}',
        'slack: UALICE, phone: "+15550100001", notify: [{channel: sms}, {channel: voice, after: 3m}]}',
    )
    world = make_world(TUESDAY, text)
    incident_id = world.declare_id()
    with world.ctx.store.transaction() as tx:
        sms = next(p for p in tx.pages(incident_id) if p.channel == "sms")
    assert sms.ref is not None
    paging.record_delivery(world.ctx, ref=sms.ref, status="undelivered", error="30003")
    assert world.pager.sent[-1] == ("alice", "voice", incident_id)  # no 3-minute wait
    assert "page_failover" in world.kinds(incident_id)
    # The channel is told who could not be reached, how and why, and what is tried instead.
    assert any("could not be reached by sms: 30003" in t and "Trying voice now" in t
               for t in world.chat.texts())


def test_escalate_to_group_pages_and_records_the_reason(make_world) -> None:  # type: ignore[no-untyped-def]
    world = make_world(TUESDAY)
    incident_id = world.declare_id()
    respond.acknowledge(world.ctx, incident_id=incident_id, person="alice")
    people = involve.escalate_to_group(world.ctx, incident_id=incident_id, group="legal",
                                       reason="customer data may be exposed", actor="alice")
    assert people == ["frank"]
    assert ("frank", "sms", incident_id) in world.pager.sent  # paged although acknowledged
    with world.ctx.store.transaction() as tx:
        event = [e for e in tx.events(incident_id) if e.kind == "escalated_to_group"][0]
    assert event.text == "legal: customer data may be exposed"
    with pytest.raises(LookupError, match="group"):
        involve.escalate_to_group(world.ctx, incident_id=incident_id, group="lawyers",
                                  reason="x", actor="alice")


def test_reassign_to_a_person_then_the_policy_continues(make_world) -> None:  # type: ignore[no-untyped-def]
    world = make_world(TUESDAY)
    incident_id = world.declare_id()
    world.pager.sent.clear()
    involve.reassign(world.ctx, incident_id=incident_id, target="@erin", actor="frank")
    assert {p for p, _, _ in world.pager.sent} == {"erin"}
    world.advance(minutes=5)  # P1 ack_within
    assert "alice" in {p for p, _, _ in world.pager.sent}


def test_maintenance_window_holds_pages_back_until_it_ends(make_world) -> None:  # type: ignore[no-untyped-def]
    text = paging_catalog().replace(
        "match: {service: checkout}}",
        'match: {service: checkout}, maintenance: [{start: "2026-11-24T10:00", end: "2026-11-24T12:00", reason: "db upgrade"}]}',
    )
    world = make_world(TUESDAY, text)  # 10:30 Berlin
    incident_id = world.declare_id()
    assert world.pager.sent == []
    assert "paging_held" in world.kinds(incident_id)
    assert any("maintenance window" in t for t in world.chat.texts())
    world.advance(minutes=89)
    assert world.pager.sent == []
    world.advance(minutes=1)  # 12:00 Berlin
    assert {p for p, _, _ in world.pager.sent} == {"alice"}


@pytest.mark.parametrize(
    ("declared", "expected_reminder"),
    [
        # Tuesday 15:00 Berlin + 8 business hours -> Wednesday 15:00.
        (datetime(2026, 11, 24, 14, 0, tzinfo=UTC), datetime(2026, 11, 25, 14, 0, tzinfo=UTC)),
        # Friday 16:00 Berlin -> Monday: 1h Friday, 7h Monday -> Monday 16:00.
        (datetime(2026, 11, 27, 15, 0, tzinfo=UTC), datetime(2026, 11, 30, 15, 0, tzinfo=UTC)),
        # Wednesday 23 Dec 16:00 -> Christmas (24th is a workday in the calendar, 25/26 holidays):
        # 1h on 23rd, 8h on 24th would end 24th 16:00 (wall clock, CET).
        (datetime(2026, 12, 23, 15, 0, tzinfo=UTC), datetime(2026, 12, 24, 15, 0, tzinfo=UTC)),
        # Friday 27 March 2026 16:00 CET -> Monday 30 March 16:00 CEST (DST changed on Sunday).
        (datetime(2026, 3, 27, 15, 0, tzinfo=UTC), datetime(2026, 3, 30, 14, 0, tzinfo=UTC)),
    ],
)
def test_queued_signal_is_reminded_after_its_business_hours_deadline(  # type: ignore[no-untyped-def]
    make_world, declared: datetime, expected_reminder: datetime
) -> None:
    world = make_world(declared)
    incident_id = world.declare_id(severity="minor")  # P3: 8h business
    world.clock.set(expected_reminder - timedelta(seconds=1))
    run_due(world.ctx)
    assert "ack_overdue" not in world.kinds(incident_id)
    world.clock.set(expected_reminder)
    run_due(world.ctx)
    assert world.kinds(incident_id).count("ack_overdue") == 1
    assert world.pager.sent == []  # never a page for a queued signal
    assert world.chat.posts[-1][0] == "CPAY"


def test_acknowledged_queued_signal_is_not_reminded(make_world) -> None:  # type: ignore[no-untyped-def]
    world = make_world(TUESDAY)
    incident_id = world.declare_id(severity="minor")
    respond.acknowledge(world.ctx, incident_id=incident_id, person="alice")
    world.advance(days=3)
    assert "ack_overdue" not in world.kinds(incident_id)


def test_privacy_incident_starts_the_regulator_clock(make_world) -> None:  # type: ignore[no-untyped-def]
    world = make_world(TUESDAY)
    incident_id = world.declare_id(flags=("privacy",))
    topic = next(iter(world.chat.topics.values()))
    assert "GDPR regulator notice" in topic
    respond.acknowledge(world.ctx, incident_id=incident_id, person="alice")
    world.advance(hours=48)
    assert world.kinds(incident_id).count("clock_reminder") == 1  # 24h before
    world.pager.sent.clear()
    world.advance(hours=22)  # 2h before: page legal, and the 4h reminder fired on the way
    assert world.kinds(incident_id).count("clock_reminder") == 3
    assert {p for p, _, _ in world.pager.sent} == {"frank"}
    clocks.mark_notified(world.ctx, incident_id=incident_id, clock_id="gdpr", actor="frank")
    world.advance(hours=3)
    assert world.kinds(incident_id).count("clock_reminder") == 3  # stopped
    with pytest.raises(Exception, match="no clock"):
        clocks.mark_notified(world.ctx, incident_id=incident_id, clock_id="sox", actor="frank")


def test_a_clock_outlives_the_incident_until_notified(make_world) -> None:  # type: ignore[no-untyped-def]
    """Fixed in an hour, closed after the recovery watch: the 72 h duty still runs."""
    world = make_world(TUESDAY)
    incident_id = world.declare_id(flags=("privacy",))
    respond.acknowledge(world.ctx, incident_id=incident_id, person="alice")
    world.advance(hours=1)
    lifecycle.resolve(world.ctx, incident_id=incident_id, actor="alice")
    world.advance(hours=2)  # the recovery watch is over
    with world.ctx.store.transaction() as tx:
        assert tx.get_incident(incident_id).state == State.CLOSED
    world.advance(hours=46)  # 24h before the deadline
    assert world.kinds(incident_id).count("clock_reminder") == 1
    world.pager.sent.clear()
    world.advance(hours=22)  # 2h before: legal is paged, and told why
    assert {p for p, _, _ in world.pager.sent} == {"frank"}
    page = world.pager.texts[-1]
    assert "GDPR regulator notice is due in" in page and "/incident notified gdpr" in page, page
    assert "INC-1 itself is closed" in page
    assert "Escalation step" not in page and "nobody acknowledged" not in page
    clocks.mark_notified(world.ctx, incident_id=incident_id, clock_id="gdpr", actor="frank")
    world.advance(hours=3)
    assert world.kinds(incident_id).count("clock_reminder") == 3  # stopped at `notified`


def test_the_topic_drops_a_clock_once_notified(make_world) -> None:  # type: ignore[no-untyped-def]
    world = make_world(TUESDAY)
    incident_id = world.declare_id(flags=("privacy",))
    assert "GDPR regulator notice" in next(iter(world.chat.topics.values()))
    clocks.mark_notified(world.ctx, incident_id=incident_id, clock_id="gdpr", actor="frank")
    assert "GDPR" not in next(iter(world.chat.topics.values()))
    with pytest.raises(Exception, match="already marked done"):
        clocks.mark_notified(world.ctx, incident_id=incident_id, clock_id="gdpr", actor="frank")


def test_a_direct_page_says_why_and_never_step_zero(make_world) -> None:  # type: ignore[no-untyped-def]
    world = make_world(TUESDAY)
    incident_id = world.declare_id()
    respond.acknowledge(world.ctx, incident_id=incident_id, person="alice")
    involve.escalate_to_group(world.ctx, incident_id=incident_id, group="legal",
                              reason="customer data may be exposed", actor="alice")
    decision = world.pager.texts[-1]
    assert "A decision is wanted from legal" in decision and "customer data" in decision
    involve.page_now(world.ctx, incident_id=incident_id, target="bob", actor="alice")
    manual = world.pager.texts[-1]
    assert "asks you to join" in manual
    for text in (decision, manual):
        assert "step 0" not in text and "nobody acknowledged" not in text
        assert "acknowledged already" in text  # alice holds it: join, do not race to ack
    channel = next(iter(world.chat.channels))
    assert f"<#{channel}>" in world.pager.texts[0] or "#inc-" in world.pager.texts[0]


def test_drill_pages_by_chat_only_with_a_banner(make_world) -> None:  # type: ignore[no-untyped-def]
    world = make_world(TUESDAY)
    incident_id = world.declare_id(drill=True)
    assert world.pager.sent == [("alice", "chat", incident_id)]
    assert list(world.chat.channels.values())[0].startswith("drill-")
    assert "DRILL" in world.chat.texts()[0]
    with world.ctx.store.transaction() as tx:
        assert tx.get_incident(incident_id).state == State.TRIGGERED
