"""The incident loop on both databases, with in-memory chat and pager and a fake clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest

from storage.store import SqlStore
from tests.support.fakes import RecordingPager
from tests.support.world import World
from workflows.incident import capture, lifecycle, respond
from workflows.message import Message
from workflows.model import Incident, Page, PageStatus, Stage, State
from workflows.ports import ChatMessage, InvalidRequest


@pytest.fixture
def world(store: SqlStore, start_time: datetime) -> Iterator[World]:
    yield World.for_paging(store, start_time)


def test_p1_opens_a_channel_and_pages_primary_on_every_channel(world: World) -> None:
    incident_id = world.declare_id()
    assert list(world.chat.channels.values()) == ["inc-20261124-1-checkout-is-down"]
    # Week of 2026-11-23: rotation started 2026-01-05 with alice; 46 weeks later -> alice.
    assert world.pager.sent == [("alice", "sms", incident_id), ("alice", "chat", incident_id)]
    topic = next(iter(world.chat.topics.values()))
    assert "P1" in topic and "Investigating" in topic and "Frank" in topic
    # Declared with its first pages in one transaction; the channel follows as its own effect.
    kinds = world.kinds(incident_id)
    assert kinds[0] == "declared" and "channel_created" in kinds


def test_unacknowledged_page_escalates_to_every_target_of_the_next_step(world: World) -> None:
    incident_id = world.declare_id()
    world.pager.sent.clear()
    assert world.advance(minutes=4, seconds=59) == 0
    assert world.pager.sent == []
    world.advance(seconds=1)
    assert sorted({p for p, _, _ in world.pager.sent}) == ["bob", "erin"]
    assert "escalated" in world.kinds(incident_id)


def test_repeat_runs_the_policy_again_then_says_it_is_exhausted(world: World) -> None:
    world.declare_id()
    for _ in range(4):
        world.advance(minutes=5)
    people = world.pager.people()
    assert people.count("alice") == 4  # step 1 twice (round 1 and 2), two channels each
    world.advance(minutes=5)
    assert any("no more steps" in text for text in world.chat.texts())
    assert world.advance(hours=1) == 1  # only the update reminder remains


def test_acknowledge_stops_every_pending_step(world: World) -> None:
    incident_id = world.declare_id()
    incident = respond.acknowledge(world.ctx, incident_id=incident_id, person="alice")
    assert incident.state == State.ACKNOWLEDGED
    world.pager.sent.clear()
    world.advance(minutes=30)
    assert world.pager.sent == []
    with world.ctx.store.transaction() as tx:
        statuses = {p.person: p.status for p in tx.pages(incident_id)}
    assert statuses["alice"] == PageStatus.ACKNOWLEDGED
    with pytest.raises(InvalidRequest, match="already acknowledged"):
        respond.acknowledge(world.ctx, incident_id=incident_id, person="bob")


def test_update_reminder_fires_when_no_status_was_posted(world: World) -> None:
    incident_id = world.declare_id()
    respond.acknowledge(world.ctx, incident_id=incident_id, person="alice")
    world.advance(minutes=10)
    respond.post_status(world.ctx, incident_id=incident_id, stage="identified", text="bad deploy",
                        author="alice")
    world.advance(minutes=14)
    assert "update_reminder" not in world.kinds(incident_id)
    world.advance(minutes=1)
    assert world.kinds(incident_id).count("update_reminder") == 1
    assert any("No status update" in text for text in world.chat.texts())
    with world.ctx.store.transaction() as tx:
        assert tx.get_incident(incident_id).stage == Stage.IDENTIFIED


def test_resolve_watches_recovery_then_closes_unless_reopened(world: World) -> None:
    incident_id = world.declare_id()
    respond.acknowledge(world.ctx, incident_id=incident_id, person="alice")
    lifecycle.resolve(world.ctx, incident_id=incident_id, actor="alice")
    world.advance(minutes=30)
    lifecycle.reopen(world.ctx, incident_id=incident_id, actor="alice")
    world.advance(hours=2)
    with world.ctx.store.transaction() as tx:
        assert tx.get_incident(incident_id).state == State.ACKNOWLEDGED
    lifecycle.resolve(world.ctx, incident_id=incident_id, actor="alice")
    world.advance(minutes=59)
    with world.ctx.store.transaction() as tx:
        assert tx.get_incident(incident_id).state == State.RESOLVED
    world.advance(minutes=1)
    with world.ctx.store.transaction() as tx:
        assert tx.get_incident(incident_id).state == State.CLOSED
    kinds = world.kinds(incident_id)
    assert kinds.count("resolved") == 2 and kinds[-1] == "closed"


def test_p3_goes_to_the_queue_without_channel_or_page(world: World) -> None:
    incident_id = world.declare_id(severity="minor")
    assert world.chat.channels == {}
    assert world.pager.sent == []
    assert world.chat.posts[0][0] == "CPAY"  # the team's channel hears about it
    assert world.kinds(incident_id) == ["declared"]


def test_non_production_is_capped(world: World) -> None:
    incident_id = world.declare_id(environment="staging")
    with world.ctx.store.transaction() as tx:
        assert tx.get_incident(incident_id).priority == "P3"


def test_roles_notes_and_unknown_people(world: World) -> None:
    incident_id = world.declare_id()
    respond.set_role(world.ctx, incident_id=incident_id, role="comms", person="erin", actor="frank")
    with pytest.raises(LookupError, match="nobody"):
        respond.set_role(world.ctx, incident_id=incident_id, role="scribe", person="nobody",
                         actor="frank")
    with pytest.raises(InvalidRequest, match="unknown role"):
        respond.set_role(world.ctx, incident_id=incident_id, role="boss", person="erin",
                         actor="frank")
    respond.add_note(world.ctx, incident_id=incident_id, text="rolled back", actor="frank")
    assert world.kinds(incident_id)[-2:] == ["role_set", "note"]
    assert ("C0001", ["erin"]) in world.chat.invites


def test_failed_page_is_on_the_timeline(world: World) -> None:
    world.pager.fail_for.add("alice")
    incident_id = world.declare_id()
    assert "page_failed" in world.kinds(incident_id)


def test_retried_chat_message_counts_once(world: World) -> None:
    incident_id = world.declare_id()
    channel = next(iter(world.chat.channels))
    for _ in range(2):
        capture.record_chat_message(world.ctx, channel=channel, message=ChatMessage(
            message_id=f"{channel}:1.0001", author="UALICE", text="looking", at=world.clock.now()))
    assert world.kinds(incident_id).count("message") == 1


def test_raising_priority_starts_paging(world: World) -> None:
    incident_id = world.declare_id(severity="minor")
    assert world.pager.sent == []
    lifecycle.retriage(world.ctx, incident_id=incident_id, actor="frank", severity="critical")
    assert "alice" in world.pager.people()


def test_resolving_a_p1_says_when_its_postmortem_is_due(world: World) -> None:
    incident_id = world.declare_id()  # Tuesday 10:30 Berlin
    lifecycle.resolve(world.ctx, incident_id=incident_id, actor="alice")
    resolved = [t for t in world.chat.texts() if "resolved by" in t][-1]
    assert "A postmortem is owed by Wed 25 Nov 10:30 CET" in resolved
    low = world.declare_id(severity="minor", title="Slow export")
    lifecycle.resolve(world.ctx, incident_id=low, actor="alice")
    assert "postmortem" not in [t for t in world.chat.texts() if "resolved by" in t][-1]


def _reminder_minutes(world: World, incident_id: int, start: datetime) -> list[int]:
    with world.ctx.store.transaction() as tx:
        return [int((e.at - start).total_seconds() // 60) for e in tx.events(incident_id)
                if e.kind == "update_reminder"]


def test_unanswered_update_reminders_back_off_and_an_update_restarts_them(
    world: World, start_time: datetime
) -> None:
    incident_id = world.declare_id()
    respond.acknowledge(world.ctx, incident_id=incident_id, person="alice")
    for _ in range(8 * 12):  # eight hours in five-minute steps, nobody posting an update
        world.advance(minutes=5)
    # P1 asks for an update every 15m: 15m, then 30m, 1h, 2h, 4h between unanswered reminders.
    assert _reminder_minutes(world, incident_id, start_time) == [15, 45, 105, 225, 465]
    reminders = [text for text in world.chat.texts() if "No status update" in text]
    assert "the next reminder comes in 30m" in reminders[0]
    assert "the next reminder comes in 4h" in reminders[-1]

    respond.post_status(world.ctx, incident_id=incident_id, stage="identified", text="found it",
                        author="alice")
    world.advance(minutes=14)
    world.advance(minutes=1)
    assert _reminder_minutes(world, incident_id, start_time)[5:] == [8 * 60 + 15]


def test_no_update_reminder_once_an_update_says_resolved_or_the_incident_is(
    world: World, start_time: datetime
) -> None:
    said_resolved = world.declare_id()
    respond.acknowledge(world.ctx, incident_id=said_resolved, person="alice")
    respond.post_status(world.ctx, incident_id=said_resolved, stage="resolved",
                        text="error rate back to normal", author="alice")
    resolved = world.declare_id(title="Payments slow")
    respond.acknowledge(world.ctx, incident_id=resolved, person="alice")
    lifecycle.resolve(world.ctx, incident_id=resolved, actor="alice")
    for _ in range(12):
        world.advance(minutes=15)
    assert _reminder_minutes(world, said_resolved, start_time) == []
    assert _reminder_minutes(world, resolved, start_time) == []


def test_an_ack_while_a_page_is_being_sent_is_kept_and_the_send_is_recorded(world: World) -> None:
    """Alice acknowledges by chat while her SMS is still with the provider: when the provider
    answers, the page keeps the acknowledgement and gains what the provider said (its ref)."""

    class AcknowledgedMidSend(RecordingPager):
        def send_page(self, *, page: Page, incident: Incident, message: Message) -> str:
            if page.channel == "sms" and incident.state == State.TRIGGERED:
                assert incident.id is not None
                respond.acknowledge(world.ctx, incident_id=incident.id, person="alice")
            return super().send_page(page=page, incident=incident, message=message)

    world.ctx.pagers["sms"] = AcknowledgedMidSend(channels=frozenset({"sms"}))
    incident_id = world.declare_id()
    with world.ctx.store.transaction() as tx:
        sms = next(p for p in tx.pages(incident_id) if p.channel == "sms")
    assert world.incident(incident_id).state == State.ACKNOWLEDGED
    assert sms.status == PageStatus.ACKNOWLEDGED  # not overwritten with `sent`
    assert sms.ref == "ref-1" and sms.sent_at is not None
