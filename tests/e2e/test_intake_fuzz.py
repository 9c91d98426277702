"""Hypothesis against every intake endpoint: no 5xx, and nothing half-written."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from storage.store import SqlStore
from tests.support.intake_http import TOKEN, Http, am_body
from tests.support.world import World

FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
scalars = st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=20)
labels = st.dictionaries(st.sampled_from(["service", "severity", "urgency", "env", "alertname", "x"]),
                         st.sampled_from(["checkout", "ledger", "critical", "warning", "high", "low",
                                          "staging", "", "☃"]) | st.text(max_size=8), max_size=5)


def _am(draw_labels: dict[str, str], status: str, fingerprint: Any, extra: dict[str, Any]) -> dict[str, Any]:
    body = am_body("x")
    alert = body["alerts"][0]
    alert.update(labels=draw_labels, status=status, fingerprint=fingerprint, **extra)
    return body


alertmanager_bodies = st.one_of(
    json_values,
    st.builds(_am, labels, st.sampled_from(["firing", "resolved", "pending", 3]),
              st.one_of(st.text(max_size=6), st.none(), st.integers()),
              st.dictionaries(st.sampled_from(["startsAt", "generatorURL", "annotations"]), json_values, max_size=2)),
)
pagerduty_bodies = st.one_of(
    json_values,
    st.fixed_dictionaries({
        "routing_key": st.sampled_from([TOKEN, "wrong", 5]),
        "event_action": st.sampled_from(["trigger", "acknowledge", "resolve", "bogus"]),
    }, optional={
        "dedup_key": st.text(max_size=8) | st.integers(),
        "payload": st.fixed_dictionaries({}, optional={
            "summary": st.text(max_size=30), "source": st.text(max_size=8),
            "severity": st.sampled_from(["critical", "error", "warning", "info", "meh"]),
            "component": st.sampled_from(["checkout", "ledger", "nope"]),
            "custom_details": json_values,
        }),
        "links": json_values,
    }),
)


def _counts(http: Http) -> tuple[int, int]:
    with http.world.ctx.store.engine.connect() as c:  # type: ignore[attr-defined]
        signals = c.execute(text("SELECT count(*) FROM signals")).scalar_one()
        orphans = c.execute(text(
            "SELECT count(*) FROM alerts WHERE service IS NOT NULL AND group_id IS NULL")).scalar_one()
    return int(signals), int(orphans)


def _check(http: Http, path: str, body: Any, *, raw: bool = False) -> None:
    before, _ = _counts(http)
    data = body if raw else json.dumps(body).encode()
    answer = http.post(path, data)
    after, orphans = _counts(http)
    assert answer.status_code < 500, answer.text
    assert orphans == 0
    if answer.status_code >= 300:
        assert after == before, f"{answer.status_code} but {after - before} signal(s) stored"
    else:
        expected = len(body["alerts"]) if path.endswith("alertmanager") else 1
        assert after == before + expected


@pytest.fixture
def http(store: SqlStore) -> Http:
    return Http(World.for_intake(store, datetime(2026, 11, 24, 9, 30, tzinfo=UTC)))


@FUZZ
@given(body=alertmanager_bodies)
def test_alertmanager_endpoint(http: Http, body: Any) -> None:
    _check(http, "/webhooks/alertmanager", body)


@FUZZ
@given(body=pagerduty_bodies)
def test_pagerduty_endpoint(http: Http, body: Any) -> None:
    _check(http, "/v2/enqueue", body)


@FUZZ
@given(data=st.binary(max_size=200), path=st.sampled_from(
    ["/webhooks/alertmanager", "/v2/enqueue", "/webhooks/jira", "/webhooks/github"]))
def test_raw_bytes_anywhere(http: Http, data: bytes, path: str) -> None:
    _check(http, path, data, raw=True)
