"""The Prometheus meter (adapters/metrics.py) and the database gauges /metrics reads
(storage/gauges.py), on prometheus_client's default registry and on both databases."""

from __future__ import annotations

import ast
import inspect
from datetime import datetime, timedelta

import pytest
from prometheus_client import REGISTRY

from adapters.metrics import (
    LABELS,
    LATENESS_BUCKETS,
    TTA_BUCKETS,
    TTR_BUCKETS,
    PrometheusMeter,
    UnknownMetric,
)
from storage.gauges import read_gauges
from storage.store import SqlStore
from tests.support.world import World
from workflows import observe
from workflows.incident.lifecycle import resolve
from workflows.incident.respond import acknowledge
from workflows.model import PageStatus
from workflows.outbox import Effect, EffectKind


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _meter_calls() -> list[tuple[str, str, frozenset[str]]]:
    """(method, metric name, label names) of every `meter.count/observe` call in observe.py."""
    calls = []
    for node in ast.walk(ast.parse(inspect.getsource(observe))):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "meter"):
            name = node.args[0]
            assert isinstance(name, ast.Constant), ast.unparse(node)
            labels = frozenset(k.arg for k in node.keywords if k.arg and k.arg != "amount")
            calls.append((node.func.attr, name.value, labels))
    return calls


def test_every_name_observe_uses_is_declared_with_its_labels() -> None:
    calls = _meter_calls()
    assert len(calls) >= 10  # the walk found observe.py's calls
    for method, name, labels in calls:
        assert name in LABELS, f"{name} is not declared in adapters/metrics.py"
        assert labels == frozenset(LABELS[name]), (name, labels)
        assert name.endswith("_total") == (method == "count"), name
    # ... and the HTTP layer's webhook counter.
    assert LABELS["webhook_requests_total"] == ("endpoint", "outcome")


def test_each_observation_counts_under_firebell_names() -> None:
    meter = PrometheusMeter()
    before = {
        "sent": _value("firebell_pages_total", channel="sms", outcome="sent"),
        "cancelled": _value("firebell_pages_total", channel="chat", outcome="cancelled"),
        "escalations": _value("firebell_escalations_total", reason="timeout"),
        "acks": _value("firebell_acknowledgements_total", priority="P1"),
        "tta_60": _value("firebell_time_to_acknowledge_seconds_bucket", priority="P1", le="60.0"),
        "tta_30": _value("firebell_time_to_acknowledge_seconds_bucket", priority="P1", le="30.0"),
        "tta_sum": _value("firebell_time_to_acknowledge_seconds_sum", priority="P1"),
        "ttr_inf": _value("firebell_time_to_resolve_seconds_bucket", priority="P2", le="+Inf"),
        "ttr_1d": _value("firebell_time_to_resolve_seconds_bucket", priority="P2", le="86400.0"),
        "opened": _value("firebell_incidents_opened_total", priority="P2", source="alert"),
        "signals": _value("firebell_signals_total", source="alertmanager", outcome="opened"),
        "late": _value("firebell_deadline_lateness_seconds_bucket", kind="escalate", le="0.01"),
        "errors": _value("firebell_external_errors_total", service="tickets"),
    }
    observe.page_sent(meter, incident="INC-1", person="alice", channel="sms", attempt=1,
                      outcome="sent")
    observe.pages_settled(meter, channel="chat", outcome="cancelled", count=3)
    observe.pages_settled(meter, channel="chat", outcome="cancelled", count=0)
    observe.escalated(meter, incident="INC-1", step=0, round=0, people=1, reason="timeout")
    observe.acknowledged(meter, incident="INC-1", priority="P1", person="bob", after_seconds=45)
    observe.resolved(meter, incident="INC-2", priority="P2", by="bob", after_seconds=2 * 86400)
    observe.incident_opened(meter, incident="INC-2", priority="P2", source="alert",
                            service="checkout")
    observe.signal_accepted(meter, source="alertmanager", outcome="opened", incident="INC-2")
    observe.deadline_ran(meter, kind="escalate", late_seconds=-0.5)  # early counts as on time
    observe.external_error(meter, service="tickets")

    def grew(key: str, name: str, **labels: str) -> float:
        return _value(name, **labels) - before[key]

    assert grew("sent", "firebell_pages_total", channel="sms", outcome="sent") == 1
    assert grew("cancelled", "firebell_pages_total", channel="chat", outcome="cancelled") == 3
    assert grew("escalations", "firebell_escalations_total", reason="timeout") == 1
    assert grew("acks", "firebell_acknowledgements_total", priority="P1") == 1
    # 45 s falls in the 60 s bucket, not the 30 s one.
    assert grew("tta_60", "firebell_time_to_acknowledge_seconds_bucket", priority="P1",
                le="60.0") == 1
    assert grew("tta_30", "firebell_time_to_acknowledge_seconds_bucket", priority="P1",
                le="30.0") == 0
    assert grew("tta_sum", "firebell_time_to_acknowledge_seconds_sum", priority="P1") == 45
    assert grew("ttr_inf", "firebell_time_to_resolve_seconds_bucket", priority="P2",
                le="+Inf") == 1
    assert grew("ttr_1d", "firebell_time_to_resolve_seconds_bucket", priority="P2",
                le="86400.0") == 0
    assert grew("opened", "firebell_incidents_opened_total", priority="P2", source="alert") == 1
    assert grew("signals", "firebell_signals_total", source="alertmanager", outcome="opened") == 1
    assert grew("late", "firebell_deadline_lateness_seconds_bucket", kind="escalate",
                le="0.01") == 1
    assert grew("errors", "firebell_external_errors_total", service="tickets") == 1


def test_buckets_span_what_operators_ask() -> None:
    assert (TTA_BUCKETS[0], TTA_BUCKETS[-1]) == (10, 7200)  # 10 s ... 2 h
    assert (TTR_BUCKETS[0], TTR_BUCKETS[-1]) == (60, 3 * 86400)  # 1 min ... 3 days
    assert (LATENESS_BUCKETS[0], LATENESS_BUCKETS[-1]) == (0.01, 60)
    for buckets in (TTA_BUCKETS, TTR_BUCKETS, LATENESS_BUCKETS):
        assert list(buckets) == sorted(set(buckets))


def test_an_undeclared_name_or_label_is_a_programming_error() -> None:
    meter = PrometheusMeter()
    with pytest.raises(UnknownMetric, match="no counter 'pages_sent'"):
        meter.count("pages_sent", channel="sms", outcome="sent")
    with pytest.raises(UnknownMetric, match="no histogram 'pages_total'"):
        meter.observe("pages_total", 1.0, channel="sms", outcome="sent")
    with pytest.raises(UnknownMetric, match="takes labels"):
        meter.count("pages_total", channel="sms")
    with pytest.raises(UnknownMetric, match="takes labels"):
        meter.observe("time_to_acknowledge_seconds", 3.0, priority="P1", person="alice")


def test_meters_share_the_process_registry() -> None:
    """Any number of meters (one per built Firebell) count into the same metrics: the default
    registry never sees a name twice, and the process collector is there as well."""
    before = _value("firebell_external_errors_total", service="pager")
    PrometheusMeter().count("external_errors_total", service="pager")
    PrometheusMeter().count("external_errors_total", service="pager")
    assert _value("firebell_external_errors_total", service="pager") - before == 2
    families = {family.name for family in REGISTRY.collect()}
    assert {"python_info", "python_gc_objects_collected", "process_cpu_seconds"} <= families


def test_database_gauges(store: SqlStore, start_time: datetime) -> None:
    world = World.for_paging(store, start_time)
    world.ctx.dispatch = lambda ctx: None  # nobody performs the effects: they stay pending
    first = world.declare()
    second = world.declare(title="Search is slow", severity="minor", urgency="low")
    third = world.declare(title="Old news")
    assert first.id and second.id and third.id and second.priority != first.priority == "P1"
    acknowledge(world.ctx, incident_id=second.id, person="frank")
    resolve(world.ctx, incident_id=third.id, actor="frank")
    now = start_time + timedelta(minutes=5)
    gauges = read_gauges(store.engine, now=now)
    assert gauges.open_incidents == {("triggered", "P1"): 1, ("acknowledged", second.priority): 1}
    assert gauges.effects_pending.get("page", 0) >= 1
    with store.transaction() as tx:
        pending = sum(1 for _ in tx.pending_effects())
    assert sum(gauges.effects_pending.values()) == pending
    assert gauges.oldest_waiting_since == start_time  # owed at the declaration, due since
    assert gauges.pages_in_doubt == 0

    with store.transaction() as tx:
        [page] = [p for p in tx.pages(first.id) if p.status == PageStatus.QUEUED][:1]
        assert page.id is not None and tx.claim_page(page.id, claimed_at=now) is not None
    assert read_gauges(store.engine, now=now).pages_in_doubt == 1


def test_oldest_waiting_effect_ignores_what_is_scheduled_for_later(
    store: SqlStore, start_time: datetime
) -> None:
    assert read_gauges(store.engine, now=start_time) == read_gauges(store.engine, now=start_time)
    assert read_gauges(store.engine, now=start_time).oldest_waiting_since is None
    later = start_time + timedelta(hours=8)
    with store.transaction() as tx:  # a page held back by someone's quiet hours
        tx.add_effects([("delayed", Effect(EffectKind.PAGE, None, not_before=later))],
                       now=start_time)
    gauges = read_gauges(store.engine, now=start_time + timedelta(hours=1))
    assert gauges.effects_pending == {"page": 1}
    assert gauges.oldest_waiting_since is None  # not due: nothing waits
    # Due now: it waits since it fell due, not since it was written.
    assert read_gauges(store.engine, now=later).oldest_waiting_since == later

    # A post tried and failed waits since it was owed, though its retry is scheduled ahead.
    owed = start_time + timedelta(minutes=10)
    with store.transaction() as tx:
        tx.add_effects([("post", Effect(EffectKind.POST, None))], now=owed)
    with store.transaction() as tx:
        [claimed] = [e for e in tx.claim_effects(now=owed, owner="me", limit=10,
                                                 lease_seconds={}) if e.key == "post"]
        assert tx.retry_effect(claimed.id, owner="me", at=owed + timedelta(hours=2), error="503")
    gauges = read_gauges(store.engine, now=owed + timedelta(minutes=1))
    assert gauges.effects_pending == {"page": 1, "post": 1}
    assert gauges.oldest_waiting_since == owed
