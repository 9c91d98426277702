"""`/metrics` after a scripted incident through the real HTTP app: declared by slash command,
paged, escalated, acknowledged with a button, resolved; alert webhooks accepted and refused.
The scrape is read with prometheus_client's own parser.

The meter's counters live on the process-wide default registry (other tests in this process
count into them too), so the story's counts are read as the difference between a scrape before
and one after it.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.intake_http import am_body
from tests.support.paths import ROOT
from tests.support.slack_helpers import Harness
from workflows.clock import FakeClock
from workflows.model import State
from workflows.outbox import Effect, EffectKind

pytestmark = pytest.mark.slow

START = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)  # a Tuesday; alice is primary, bob secondary
DECLARE = "declare service=checkout severity=critical urgency=high"
WEBHOOK_TOKEN = "webhook-token-0123456789"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def h(tmp_path: Path, clock: FakeClock) -> Iterator[Harness]:
    harness = Harness(tmp_path, clock=clock, firebell_webhook_token=WEBHOOK_TOKEN)
    yield harness
    harness.firebell.timers.shutdown()
    harness.close()


def scrape(h: Harness) -> Samples:
    answer = httpx.get(f"{h.server.url}/metrics", timeout=10)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=")
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(answer.text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def names(samples: Samples) -> set[str]:
    return {name for name, _ in samples}


def test_a_scripted_incident_is_counted_on_metrics(h: Harness, clock: FakeClock) -> None:
    before = scrape(h)

    def grew(name: str, *, since: Samples | None = None, **labels: str) -> float:
        return value(after, name, **labels) - value(since or before, name, **labels)

    # Declared by Bob: P1, a channel, and Alice (primary) paged by Slack.
    response, key = h.slack.command("/incident", f"{DECLARE} Checkout down", user="U0BOB")
    assert response.status_code == 200
    [text] = h.fake.wait_for_response(key)
    incident_id = int(text.split()[1].removeprefix("INC-"))
    h.fake.wait_for(lambda: h.fake.direct_messages("U0ALICE"))
    # Nobody acknowledges within 30 s: step 2 pages Bob (its deadline acted on 1 s late).
    clock.advance(timedelta(seconds=31))
    h.firebell.tick()
    h.fake.wait_for(lambda: h.fake.direct_messages("U0BOB"))
    # Bob acknowledges 45 s after the declaration, from his page; resolves 20 minutes later.
    clock.advance(timedelta(seconds=14))
    response, key = h.slack.button("ack", str(incident_id), user="U0BOB", channel="DU0BOB")
    assert response.status_code == 200
    assert h.fake.wait_for_response(key) == [f"You acknowledged INC-{incident_id}."]
    clock.advance(timedelta(minutes=20))
    response, key = h.slack.command("/incident", f"resolve INC-{incident_id}", user="U0BOB")
    assert h.fake.wait_for_response(key) == [f"INC-{incident_id} resolved."]
    assert [i.state for i in h.incidents()] == [State.RESOLVED]
    h.firebell.tick()
    after = story = scrape(h)

    assert grew("firebell_incidents_opened_total", priority="P1", source="declared") == 1
    assert grew("firebell_pages_total", channel="chat", outcome="sent") == 2  # Alice, then Bob
    assert grew("firebell_pages_total", channel="chat", outcome="failed") == 0
    assert grew("firebell_escalations_total", reason="timeout") == 1
    assert grew("firebell_deadline_lateness_seconds_bucket", kind="escalate", le="1.0") == 1
    assert grew("firebell_deadline_lateness_seconds_bucket", kind="escalate", le="0.5") == 0
    assert grew("firebell_acknowledgements_total", priority="P1") == 1
    assert grew("firebell_time_to_acknowledge_seconds_count", priority="P1") == 1
    assert grew("firebell_time_to_acknowledge_seconds_sum", priority="P1") == 45
    assert grew("firebell_time_to_acknowledge_seconds_bucket", priority="P1", le="60.0") == 1
    assert grew("firebell_time_to_acknowledge_seconds_bucket", priority="P1", le="30.0") == 0
    assert grew("firebell_resolutions_total", priority="P1") == 1
    assert grew("firebell_time_to_resolve_seconds_bucket", priority="P1", le="1800.0") == 1
    assert grew("firebell_time_to_resolve_seconds_bucket", priority="P1", le="900.0") == 0
    # Slack's three requests (declare, the button, resolve) were accepted.
    assert grew("firebell_webhook_requests_total", endpoint="slack", outcome="accepted") == 3
    assert value(after, "firebell_open_incidents", state="triggered", priority="P1") == 0

    # A request Slack did not sign is refused before Bolt sees it.
    assert httpx.post(f"{h.server.url}/slack/events", content=b"{}").status_code == 401
    # The other inbound callbacks are counted alike, whatever they answer (here each is off or
    # refused): Twilio's, the Bot Framework's, Telegram's and the push acknowledgement links.
    answers = {
        "twilio_sms": httpx.post(f"{h.server.url}/twilio/sms", data={"Body": "1"}).status_code,
        "twilio_status": httpx.post(f"{h.server.url}/twilio/status", data={}).status_code,
        "teams": httpx.post(f"{h.server.url}/api/messages", json={}).status_code,
        "telegram": httpx.post(f"{h.server.url}/telegram/webhook", json={}).status_code,
        "push": httpx.post(f"{h.server.url}/push/ack/forged.token").status_code,
    }
    assert all(status >= 400 for status in answers.values()), answers
    # Alert webhooks: one accepted (it opens an incident), one without the token, two too big
    # (the route's 256 KiB cap, and the server's 1 MiB one announced by Content-Length).
    webhook = f"{h.server.url}/webhooks/alertmanager"
    bearer = {"Authorization": f"Bearer {WEBHOOK_TOKEN}"}
    assert httpx.post(webhook, json=am_body(service="checkout"), headers=bearer).status_code == 200
    assert httpx.post(webhook, json=am_body()).status_code == 401
    big = b"{" + b" " * (300 * 1024) + b"}"
    assert httpx.post(webhook, content=big, headers=bearer).status_code == 413
    huge = b"{" + b" " * (2 * 1024 * 1024) + b"}"
    assert httpx.post(webhook, content=huge, headers=bearer).status_code == 413
    h.firebell.tick()

    # The scheduler runs once; then an effect is owed that nobody performs (no dispatcher).
    h.firebell.timers.start()
    give_up = time.monotonic() + 30
    while h.firebell.timers.last_run is None and time.monotonic() < give_up:
        time.sleep(0.05)
    h.firebell.timers.shutdown()
    h.firebell.dispatcher.stop(grace=2)
    with h.firebell.store.transaction() as tx:
        tx.add_effects([("metrics-test", Effect(EffectKind.POST, None))], now=clock.now())
        pending = Counter(e.kind.value for e in tx.pending_effects())
    clock.advance(timedelta(seconds=90))
    after = scrape(h)

    assert grew("firebell_webhook_requests_total", endpoint="alertmanager", outcome="accepted") == 1
    assert grew("firebell_webhook_requests_total", endpoint="alertmanager", outcome="401") == 1
    assert grew("firebell_webhook_requests_total", endpoint="alertmanager", outcome="413") == 2
    assert grew("firebell_webhook_requests_total", endpoint="slack", outcome="401") == 1
    for endpoint, status in answers.items():
        assert grew("firebell_webhook_requests_total", endpoint=endpoint,
                    outcome=str(status)) == 1, endpoint
    assert grew("firebell_signals_total", since=story, source="alertmanager",
                outcome="opened") == 1
    assert grew("firebell_incidents_opened_total", since=story, priority="P1",
                source="alert") == 1
    assert grew("firebell_pages_total", since=story, channel="chat", outcome="sent") == 1

    # Read from the database at scrape time.
    assert value(after, "firebell_database_up") == 1
    assert value(after, "firebell_open_incidents", state="triggered", priority="P1") == 1
    assert pending["post"] >= 1
    assert {kind: value(after, "firebell_effects_pending", kind=kind) for kind in pending} == {
        kind: float(count) for kind, count in pending.items()}
    assert value(after, "firebell_effects_oldest_pending_age_seconds") >= 90
    assert value(after, "firebell_pages_in_doubt") == 0
    last_run = value(after, "firebell_scheduler_last_run_timestamp_seconds")
    assert abs(last_run - datetime.now(UTC).timestamp()) < 60

    # What the default registry brings along.
    assert "python_info" in names(after)
    if sys.platform == "linux":
        assert value(after, "process_cpu_seconds_total") > 0
        assert value(after, "process_resident_memory_bytes") > 0


# The dashboard ---------------------------------------------------------------------------------
DASHBOARD = ROOT / "deploy" / "grafana" / "firebell-dashboard.json"
PROMQL_WORDS = frozenset({
    "sum", "max", "min", "avg", "count", "by", "without", "rate", "irate", "increase",
    "histogram_quantile", "time", "on", "ignoring", "group_left", "group_right", "and", "or",
    "unless", "offset", "bool", "topk", "bottomk", "clamp_min", "clamp_max", "abs", "absent",
    "vector", "scalar",
})
SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count", "_created"),
            "summary": ("", "_sum", "_count", "_created"), "gauge": ("",), "unknown": ("",),
            "info": ("_info",)}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads: what is left once strings, label matchers,
    ranges, Grafana variables, groupings and PromQL's own words are taken out."""
    stripped = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    stripped = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\$\w+", "", stripped)
    stripped = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "",
                      stripped)
    return {word for word in re.findall(r"\b[a-zA-Z_:][a-zA-Z0-9_:]*\b", stripped)
            if word not in PROMQL_WORDS}


def exposed(text: str) -> tuple[set[str], set[str]]:
    """(sample names, family names) of a /metrics answer, samples or not yet."""
    families = list(text_string_to_metric_families(text))
    samples = {family.name + suffix for family in families for suffix in SUFFIXES[family.type]}
    return samples, {family.name for family in families}


def test_the_dashboard_reads_only_what_firebell_exposes(h: Harness) -> None:
    h.firebell.timers.start()  # the scheduler's gauge appears once it ran
    give_up = time.monotonic() + 30
    while h.firebell.timers.last_run is None and time.monotonic() < give_up:
        time.sleep(0.05)
    samples, families = exposed(httpx.get(f"{h.server.url}/metrics", timeout=10).text)
    assert "firebell_scheduler_last_run_timestamp_seconds" in samples

    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    [source] = [v for v in dashboard["templating"]["list"] if v["name"] == "DS_PROMETHEUS"]
    assert source["type"] == "datasource" and source["query"] == "prometheus"
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    read: set[str] = set()
    for panel in panels:
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
        assert panel["targets"], panel["title"]
        position = panel["gridPos"]
        assert position["x"] + position["w"] <= 24, panel["title"]
        for target in panel["targets"]:
            names = metric_names(target["expr"])
            assert names, (panel["title"], target["expr"])
            assert names <= samples, (panel["title"], sorted(names - samples))
            read |= names
    # ... and every Firebell metric is on it somewhere (a metric nobody watches is dead weight).
    unwatched = {family for family in families
                 if family.startswith("firebell_") and not family.endswith("_created")
                 and not any(name.startswith(family) for name in read)}
    assert unwatched == set()
    titles = " ".join(p["title"] for p in panels)
    for wanted in ("Pages by outcome", "Escalations", "MTTA", "MTTR", "Open incidents",
                   "Effects pending", "lateness p99", "Webhook", "External errors", "Scheduler"):
        assert wanted in titles


def test_the_promql_reader_finds_metric_names() -> None:
    """The check above can fail: a misspelt or made-up metric is found."""
    assert metric_names(
        'histogram_quantile(0.9, sum by (le, priority) (increase('
        'firebell_time_to_acknowledge_seconds_bucket{job=~"$job", priority="P1"}[$window])))'
    ) == {"firebell_time_to_acknowledge_seconds_bucket"}
    assert metric_names("time() - max by (instance) (firebell_scheduler_last_run)") == {
        "firebell_scheduler_last_run"}
    assert metric_names('sum(rate(firebell_pages_sent_total{outcome="sent"}[5m])) '
                        'by (channel)') == {"firebell_pages_sent_total"}
