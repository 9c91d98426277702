"""What operators watch (workflows/observe.py): one `firebell.events` line and one measurement per
fact, reported only once the step that made it committed; a refused or rolled-back step says
nothing."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

import pytest

from storage.store import SqlStore
from tests.support.catalogs import PAGING
from tests.support.world import World
from workflows.incident import lifecycle, respond
from workflows.intake.report import report
from workflows.intake.signals import Action
from workflows.model import Incident, Page
from workflows.paging.escalation import escalate_now
from workflows.ports import ExternalServiceError, InvalidRequest, Message


@dataclass
class RecordingMeter:
    """A `Meter` that keeps what it was told."""

    counts: list[tuple[str, float, dict[str, str]]] = field(default_factory=list)
    observations: list[tuple[str, float, dict[str, str]]] = field(default_factory=list)

    def count(self, name: str, *, amount: float = 1.0, **labels: str) -> None:
        self.counts.append((name, amount, labels))

    def observe(self, name: str, value: float, **labels: str) -> None:
        self.observations.append((name, value, labels))

    def total(self, name: str, **labels: str) -> float:
        return sum(amount for n, amount, given in self.counts
                   if n == name and labels.items() <= given.items())


@pytest.fixture
def world(store: SqlStore, start_time: datetime) -> Iterator[World]:
    world = World.for_paging(store, start_time)
    world.ctx.meter = RecordingMeter()
    yield world


@pytest.fixture
def events(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.INFO, logger="firebell.events")
    yield caplog


def lines(caplog: pytest.LogCaptureFixture, event: str) -> list[dict[str, object]]:
    """The fields of each `event` line, checked against the line's own words."""
    found = []
    for record in caplog.records:
        if record.name != "firebell.events" or getattr(record, "event", None) != event:
            continue
        fields: dict[str, object] = record.fields  # type: ignore[attr-defined]
        message = record.getMessage()
        assert message.startswith(event + " ")
        for key, value in fields.items():
            assert f"{key}={value}" in message or f'{key}="{value}"' in message, message
        found.append(fields)
    return found


def meter(world: World) -> RecordingMeter:
    assert isinstance(world.ctx.meter, RecordingMeter)
    return world.ctx.meter


def test_declare_page_escalate_ack_resolve_each_logged_once(
    world: World, events: pytest.LogCaptureFixture
) -> None:
    incident_id = world.declare_id()
    ref = f"INC-{incident_id}"
    assert lines(events, "incident") == [
        {"incident": ref, "priority": "P1", "source": "declared", "service": "checkout"}]
    world.advance(minutes=5, seconds=30)  # alice's step times out: bob and erin
    incident = respond.acknowledge(world.ctx, incident_id=incident_id, person="bob")
    lifecycle.resolve(world.ctx, incident_id=incident_id, actor="bob")

    pages = lines(events, "page")
    assert sorted((p["person"], p["channel"]) for p in pages) == sorted(
        (person, channel) for person, channel, _ in world.pager.sent)
    assert len(pages) == 6  # alice, bob, erin by sms and chat
    assert {(p["incident"], p["attempt"], p["outcome"]) for p in pages} == {(ref, 1, "sent")}
    assert lines(events, "escalation") == [
        {"incident": ref, "step": 2, "round": 1, "paged": 2, "reason": "timeout"}]
    assert lines(events, "acknowledged") == [
        {"incident": ref, "priority": "P1", "by": "bob", "after": "330s"}]
    assert lines(events, "resolved") == [
        {"incident": ref, "priority": "P1", "by": "bob", "after": "330s"}]
    assert incident.acknowledged_by == "bob"

    measured = meter(world)
    assert measured.total("pages_total", outcome="sent") == 6
    assert measured.total("pages_total", channel="sms", outcome="sent") == 3
    assert measured.total("escalations_total", reason="timeout") == 1
    assert measured.total("acknowledgements_total", priority="P1") == 1
    assert measured.total("incidents_opened_total", source="declared") == 1
    assert ("time_to_acknowledge_seconds", 330.0, {"priority": "P1"}) in measured.observations
    assert ("time_to_resolve_seconds", 330.0, {"priority": "P1"}) in measured.observations
    # The deadline ran 30 s after it was due.
    assert ("deadline_lateness_seconds", 30.0, {"kind": "escalate"}) in measured.observations


def test_a_refused_ack_logs_nothing(world: World, events: pytest.LogCaptureFixture) -> None:
    incident_id = world.declare_id()
    respond.acknowledge(world.ctx, incident_id=incident_id, person="alice")
    with pytest.raises(InvalidRequest):
        respond.acknowledge(world.ctx, incident_id=incident_id, person="carol")
    assert [a["by"] for a in lines(events, "acknowledged")] == ["alice"]
    assert meter(world).total("acknowledgements_total") == 1


def test_handing_on_and_paging_again_count_attempts(
    world: World, events: pytest.LogCaptureFixture
) -> None:
    incident_id = world.declare_id()
    escalate_now(world.ctx, incident_id=incident_id, actor="alice")  # step 2: bob, erin
    escalate_now(world.ctx, incident_id=incident_id, actor="bob")  # round 2: alice again
    assert [e["reason"] for e in lines(events, "escalation")] == ["handed_on", "handed_on"]
    alice = [(p["channel"], p["attempt"]) for p in lines(events, "page") if p["person"] == "alice"]
    assert sorted(alice) == [("chat", 1), ("chat", 2), ("sms", 1), ("sms", 2)]


def test_acknowledging_cancels_pages_not_yet_sent(
    store: SqlStore, start_time: datetime, events: pytest.LogCaptureFixture
) -> None:
    # alice's SMS waits 2 minutes after her chat page (her own notify rules).
    catalog = PAGING.replace(
        '{id: alice, name: Alice, slack: UALICE, phone: "+15550100001"}',
        '{id: alice, name: Alice, slack: UALICE, phone: "+15550100001", '
        'notify: [{channel: chat, after: 0s}, {channel: sms, after: 2m}]}')
    world = World.for_paging(store, start_time, catalog=catalog)
    world.ctx.meter = RecordingMeter()
    incident_id = world.declare_id()
    respond.acknowledge(world.ctx, incident_id=incident_id, person="alice")
    assert [(p["person"], p["channel"]) for p in lines(events, "page")] == [("alice", "chat")]
    assert meter(world).total("pages_total", channel="sms", outcome="cancelled") == 1


@dataclass
class UnreachablePager:
    """A pager whose provider refuses the number (its error names it)."""

    def send_page(self, *, page: Page, incident: Incident, message: Message) -> str:
        raise ExternalServiceError("Twilio 400 error 21211: The 'To' number +15550100001 is "
                                   "not a valid phone number", retryable=False)


def test_a_failed_page_is_logged_with_its_reason_but_not_the_number(
    world: World, events: pytest.LogCaptureFixture
) -> None:
    world.ctx.pagers["sms"] = UnreachablePager()
    world.declare_id()
    failed = [p for p in lines(events, "page") if p["outcome"] == "failed"]
    assert [(p["person"], p["channel"]) for p in failed] == [("alice", "sms")]
    assert "21211" in str(failed[0]["error"]) and "01" in str(failed[0]["error"])
    assert "15550100001" not in events.text and "5550100" not in events.text
    assert meter(world).total("pages_total", channel="sms", outcome="failed") == 1


def test_each_accepted_signal_is_logged_with_what_became_of_it(
    store: SqlStore, start_time: datetime, events: pytest.LogCaptureFixture
) -> None:
    world = World.for_intake(store, start_time)
    world.ctx.meter = RecordingMeter()
    opened = world.fire("fp1")
    world.fire("fp1")  # the same alert again
    world.fire("fp2")  # another alert of the service: grouped
    world.fire("fp1", action=Action.RESOLVE)
    world.fire("fp2", action=Action.RESOLVE)  # the last: the incident resolves
    world.fire("fp9", action=Action.RESOLVE)  # never seen
    ref = f"INC-{opened.incident_id}"
    said = [(s["source"], s["outcome"], s.get("incident"), s["key"])
            for s in lines(events, "signal")]
    assert said == [
        ("alertmanager", "opened", ref, "fp1"), ("alertmanager", "repeated", ref, "fp1"),
        ("alertmanager", "joined", ref, "fp2"), ("alertmanager", "resolved", ref, "fp1"),
        ("alertmanager", "resolved", ref, "fp2"), ("alertmanager", "ignored", None, "fp9")]
    assert lines(events, "incident") == [
        {"incident": ref, "priority": "P1", "source": "alert", "service": "checkout"}]
    assert [r["by"] for r in lines(events, "resolved")] == ["default"]
    assert meter(world).total("signals_total", source="alertmanager") == 6
    assert meter(world).total("incidents_opened_total", source="alert") == 1


def test_a_report_opens_its_incident_as_a_report(
    store: SqlStore, start_time: datetime, events: pytest.LogCaptureFixture
) -> None:
    world = World.for_intake(store, start_time)
    report(world.ctx, actor="alice", summary="Checkout is slow",
           options={"service": "checkout", "severity": "critical", "urgency": "high"})
    assert [(i["source"], i["service"]) for i in lines(events, "incident")] == [
        ("report", "checkout")]
    assert [s["outcome"] for s in lines(events, "signal")] == ["opened"]


def test_a_step_undone_by_its_savepoint_reports_nothing(world: World) -> None:
    said: list[str] = []
    with world.ctx.unit() as uow:
        uow.after_commit(lambda: said.append("kept"))
        with pytest.raises(InvalidRequest), uow.savepoint():
            uow.after_commit(lambda: said.append("undone"))
            raise InvalidRequest("refused")
        assert said == []  # nothing before the commit
    assert said == ["kept"]


@dataclass
class DownTracker:
    """A ticket tracker that is down."""

    tries: int = 0

    def open_ticket(self, *, incident: Incident, body: str) -> str:
        self.tries += 1
        raise ExternalServiceError("tracker unreachable", retryable=True)

    def update_ticket(self, *, ticket: str, incident: Incident, comment: str) -> None:
        raise ExternalServiceError("tracker unreachable", retryable=True)


def test_an_effect_that_fails_counts_as_its_services_error(
    store: SqlStore, start_time: datetime
) -> None:
    tracker = DownTracker()
    world = World(store, start_time, catalog=PAGING, tickets=tracker)
    world.ctx.meter = RecordingMeter()
    world.declare_id()
    world.advance(seconds=3)  # the retry, after its back-off
    assert tracker.tries == 2
    assert meter(world).total("external_errors_total", service="tickets") == 2
    assert meter(world).total("external_errors_total", service="chat") == 0
