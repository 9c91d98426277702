"""Intake workflows on both databases: dedup, routing, grouping, resolve, flapping, tickets."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from bot.commands import Commands, Invocation
from storage.store import SqlStore
from tests.support.catalogs import INTAKE
from tests.support.world import World
from workflows.incident import lifecycle, respond
from workflows.intake import intake as intake_module
from workflows.intake.intake import retry_pending
from workflows.intake.noise import noise_report
from workflows.intake.signals import Action
from workflows.intake.ticket_changes import apply_ticket_change
from workflows.model import State
from workflows.ports import FirebellError, TicketChange


@pytest.fixture
def world(store: SqlStore, start_time: datetime) -> Iterator[World]:
    yield World.for_intake(store, start_time)


def test_an_alert_opens_one_incident_pages_and_gets_a_ticket(world: World) -> None:
    outcome = world.fire()
    assert outcome.created and outcome.routed and outcome.incident_id
    [incident] = world.incidents()
    assert (incident.service, incident.priority, incident.ticket) == ("checkout", "P1", "OPS-1")
    assert world.pager.people() == ["alice"]
    body = world.tickets.opened[0][2]
    assert "https://prometheus.example/graph?g0" in body and "runbooks.example/checkout" in body
    assert {"declared", "alert", "ticket_opened"} <= set(world.kinds(incident.id or 0))


def test_the_same_fingerprint_never_opens_a_second_incident(world: World) -> None:
    for _ in range(5):
        world.fire()
    assert len(world.incidents()) == 1
    assert len(world.tickets.opened) == 1 and world.pager.people() == ["alice"]


def test_concurrent_duplicates_are_decided_by_the_unique_constraint(world: World) -> None:
    results = []
    barrier = threading.Barrier(12)

    def fire() -> None:
        barrier.wait()
        results.append(world.fire("storm"))

    threads = [threading.Thread(target=fire) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(o.created for o in results) == 1
    assert len(world.incidents()) == 1 and len(world.pager.sent) == 1


def test_alerts_of_a_service_within_the_window_join_the_open_incident(world: World) -> None:
    first = world.fire("a")
    world.advance(minutes=4)
    second = world.fire("b", alertname="Latency")
    assert second.created and second.incident_id == first.incident_id
    assert len(world.incidents()) == 1 and world.pager.people() == ["alice"]
    assert "alert_grouped" in world.kinds(first.incident_id or 0)
    assert any("Another alert joined" in text for text in world.chat.texts())
    respond.acknowledge(world.ctx, incident_id=first.incident_id or 0, person="alice")
    world.advance(minutes=11)
    third = world.fire("c")
    assert third.incident_id not in (None, first.incident_id)


def test_all_alerts_resolved_before_an_ack_resolves_and_stops_paging(
    store: SqlStore, start_time: datetime
) -> None:
    """PagerDuty's semantics: resolved at the source while nobody holds it, paging stops."""
    world = World.for_intake(store, start_time)
    first = world.fire("a")
    world.fire("b")
    world.fire("a", action=Action.RESOLVE)
    assert not any("Every alert" in t for t in world.chat.texts())
    paged = len(world.pager.sent)
    world.fire("b", action=Action.RESOLVE)
    assert any("Every alert of INC-" in t and "paging stops" in t for t in world.chat.texts())
    [incident] = world.incidents()
    assert incident.state == State.RESOLVED
    assert world.kinds(first.incident_id or 0).count("alert_resolved") == 2
    world.advance(minutes=30)  # every ack timeout of the policy: nobody else is called
    assert len(world.pager.sent) == paged
    with store.transaction() as tx:
        assert all(p.status.value != "queued" for p in tx.pages(first.incident_id or 0))


def test_once_acknowledged_resolving_is_the_persons_and_auto_resolve_is_opt_in(
    store: SqlStore, start_time: datetime
) -> None:
    world = World.for_intake(store, start_time)
    first = world.fire("a")
    respond.acknowledge(world.ctx, incident_id=first.incident_id or 0, person="alice")
    world.fire("a", action=Action.RESOLVE)
    assert any("Every alert of INC-" in t and "/incident resolve" in t for t in world.chat.texts())
    [incident] = world.incidents()
    assert incident.state == State.ACKNOWLEDGED  # auto_resolve is off: alice decides

    auto = World.for_intake(store, start_time, catalog=INTAKE.replace(
        "grouping_window: 10m", "grouping_window: 10m\n  auto_resolve: true"))
    lifecycle.close(auto.ctx, incident_id=first.incident_id or 0, actor="alice")
    again = auto.fire("x")
    respond.acknowledge(auto.ctx, incident_id=again.incident_id or 0, person="alice")
    auto.fire("x", action=Action.RESOLVE)
    with store.transaction() as tx:
        assert tx.get_incident(again.incident_id or 0).state == State.RESOLVED
    assert any(state == "resolved" for _, state, _ in auto.tickets.updates)


def test_flapping_is_noted(world: World) -> None:
    outcome = world.fire("f")
    for _ in range(2):
        world.fire("f", action=Action.RESOLVE)
        world.fire("f")
    assert "flapping" in world.kinds(outcome.incident_id or 0)


def test_unrouted_alerts_are_kept_listed_and_reported_to_the_owners(world: World) -> None:
    outcome = world.fire("u", service="mystery")
    world.fire("u", service="mystery")
    assert not outcome.routed and world.incidents() == []
    assert [p for p, _ in world.chat.directs] == ["erin"]
    assert world.chat.posts[0][0] == "COWNERS"
    assert "no service matches" in world.chat.directs[0][1].text
    listing = _command(world, "unrouted")
    assert "HighErrorRate" in listing and "no service matches" in listing
    world.fire("u", action=Action.RESOLVE, service="mystery")
    assert "No unrouted alerts" in _command(world, "unrouted")


def test_p3_goes_to_the_queue_with_a_ticket_and_a_team_notice(world: World) -> None:
    outcome = world.fire("low", severity="warning", urgency="low")
    [incident] = world.incidents()
    assert incident.priority == "P4" and incident.ticket == "OPS-1" and incident.channel is None
    assert world.pager.sent == []
    assert any(ch == "CPAY" and "nobody is paged" in m.text for ch, m in world.chat.posts)
    assert outcome.incident_id == incident.id


def test_priority_change_resolve_and_close_update_the_ticket(world: World) -> None:
    incident_id = world.fire().incident_id or 0
    lifecycle.retriage(world.ctx, incident_id=incident_id, actor="alice", priority="P2")
    lifecycle.resolve(world.ctx, incident_id=incident_id, actor="alice")
    lifecycle.close(world.ctx, incident_id=incident_id, actor="alice")
    states = [state for _, state, _ in world.tickets.updates]
    assert states == ["triggered", "resolved", "closed"]
    assert "priority P1 → P2" in world.tickets.updates[0][2]


def test_a_report_is_triaged_like_any_signal(world: World) -> None:
    text = _command(world, "report service=ledger checkout slow")
    assert "queue" in text and "P3" in text
    text = _command(world, "report something odd")
    assert "no service matches" in text
    with pytest.raises(Exception, match="usage"):
        _command(world, "report service=ledger")


def _command(world: World, text: str, *, user: str = "bob") -> str:
    """`/incident <text>` typed by `user`, through the command table."""
    return Commands(world.ctx, forms=False).handle(Invocation("incident", text, user)).text


def test_ticket_changes_come_back_once_and_own_changes_are_ignored(world: World) -> None:
    incident_id = world.fire().incident_id or 0
    own = TicketChange("jira", "d0", "OPS-1", "firebell", by_bot=True, status="done")
    assert apply_ticket_change(world.ctx, own) == "own change"
    change = TicketChange("jira", "d1", "OPS-1", "acc-1", by_bot=False, status="done")
    assert apply_ticket_change(world.ctx, change) == "resolved"
    assert apply_ticket_change(world.ctx, change) == "duplicate delivery"
    reopen = TicketChange("jira", "d2", "OPS-1", "acc-1", by_bot=False, status="open")
    assert apply_ticket_change(world.ctx, reopen) == "reopened"
    priority = TicketChange("jira", "d3", "OPS-1", "acc-1", by_bot=False, priority="P2")
    assert apply_ticket_change(world.ctx, priority) == "priority P2"
    with world.ctx.store.transaction() as tx:
        assert tx.get_incident(incident_id).priority == "P2"


def test_noise_report_counts_signals_acks_and_self_resolved(world: World) -> None:
    noisy = world.fire("n1", alertname="DiskFull")
    world.fire("n1", alertname="DiskFull")
    world.fire("n2", alertname="Latency")  # joins the incident
    world.fire("n1", action=Action.RESOLVE, alertname="DiskFull")
    world.clock.advance(timedelta(minutes=1))
    respond.acknowledge(world.ctx, incident_id=noisy.incident_id or 0, person="alice")
    rows = {(r.rule, r.service): r for r in noise_report(world.ctx)}
    disk = rows[("DiskFull", "checkout")]
    assert (disk.signals, disk.alerts, disk.acknowledged, disk.auto_resolved) == (2, 1, 0, 1)
    latency = rows[("Latency", "checkout")]
    assert (latency.signals, latency.alerts, latency.acknowledged) == (1, 1, 1)


def test_a_failed_opening_is_retried_from_the_stored_alert(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(*_: object, **__: object) -> None:
        raise FirebellError("database went away")

    monkeypatch.setattr(intake_module, "declare_in", crash)
    outcome = world.fire()
    assert outcome.created and outcome.incident_id is None and world.incidents() == []
    monkeypatch.undo()
    world.clock.advance(timedelta(minutes=2))
    assert retry_pending(world.ctx) == 1
    assert len(world.incidents()) == 1 and len(world.tickets.opened) == 1
    assert world.fire().incident_id is None or len(world.incidents()) == 1
