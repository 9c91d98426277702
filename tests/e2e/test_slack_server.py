"""The HTTP server's own routes: health, metrics, the JSON API, and Slack switched off."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.support.slack_helpers import API_TOKEN, DEMO_CATALOG, Harness, ThreadedServer
from workflows.clock import FakeClock

START = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path, clock=FakeClock(START))
    yield harness
    harness.close()


def _get(h: Harness, path: str) -> httpx.Response:
    return httpx.get(h.server.url + path, timeout=10,
                     headers={"Authorization": f"Bearer {API_TOKEN}"})


def test_healthz_reports_the_database_and_the_scheduler(h: Harness) -> None:
    response = _get(h, "/healthz")
    assert response.status_code == 503  # the scheduler is not started in this harness
    assert response.json() == {"status": "unavailable", "database": "ok", "scheduler": "stopped"}
    h.firebell.timers.start()
    try:
        response = _get(h, "/healthz")
        assert response.status_code == 200
        assert response.json() == {"status": "ok", "database": "ok", "scheduler": "running"}
    finally:
        h.firebell.timers.shutdown()


def test_incidents_metrics_and_oncall(h: Harness) -> None:
    assert _get(h, "/api/v1/incidents").json() == {"incidents": []}
    _, key = h.slack.command(
        "/incident", "declare service=checkout severity=major urgency=high Slow checkout")
    h.fake.wait_for_response(key)
    [incident] = _get(h, "/api/v1/incidents").json()["incidents"]
    assert {k: incident[k] for k in ("ref", "title", "priority", "state", "service")} == {
        "ref": "INC-1", "title": "Slow checkout", "priority": "P2", "state": "triggered",
        "service": "checkout"}
    assert incident["declared_at"] == "2026-11-24T09:30:00+00:00"

    metrics = _get(h, "/metrics")
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    assert 'firebell_open_incidents{priority="P2",state="triggered"} 1.0' in metrics.text

    oncall = _get(h, "/api/v1/oncall?team=payments").json()
    assert [(a["schedule"], [p["id"] for p in a["now"]]) for a in oncall["oncall"]] == [
        ("payments-primary", ["alice"]), ("payments-secondary", ["bob"])]
    assert oncall["oncall"][0]["now"][0]["name"] == "Alice Doe"
    one = _get(h, "/api/v1/oncall?schedule=payments-secondary&at=2026-12-01T12:00:00Z").json()
    assert one["at"] == "2026-12-01T12:00:00+00:00" and len(one["oncall"]) == 1
    unknown = _get(h, "/api/v1/oncall?team=nope")
    assert unknown.status_code == 400 and "no team, service or schedule called 'nope'" in unknown.text
    assert _get(h, "/api/v1/oncall?at=tomorrow").status_code == 400


def test_slack_events_are_404_when_slack_is_off(tmp_path: Path) -> None:
    from app import Settings, build
    from bot.server import build_http_app

    settings = Settings(firebell_config=str(DEMO_CATALOG),
                        database_url=f"sqlite:///{tmp_path / 'firebell.db'}",
                        slack_bot_token=None, slack_signing_secret=None, slack_app_token=None)
    firebell = build(settings, clock=FakeClock(START))
    server = ThreadedServer(build_http_app(firebell)).start()
    try:
        response = httpx.post(f"{server.url}/slack/events", content=b"{}", timeout=10)
        assert response.status_code == 404 and "Slack is off" in response.text
    finally:
        server.stop()
        firebell.store.dispose()


def test_the_json_api_needs_its_token(h: Harness) -> None:
    url = h.server.url + "/api/v1/incidents"
    assert httpx.get(url, timeout=10).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Bearer wrong"}, timeout=10).status_code == 401
    # Not in the URL, where proxies log it: only the Authorization header counts.
    assert httpx.get(url + f"?token={API_TOKEN}", timeout=10).status_code == 401
    assert httpx.get(url, headers={"Authorization": f"Bearer {API_TOKEN}"},
                     timeout=10).status_code == 200
    assert httpx.get(h.server.url + "/healthz", timeout=10).status_code in (200, 503)


def test_teams_says_it_is_not_supported(h: Harness) -> None:
    answer = httpx.post(h.server.url + "/api/messages", json={"type": "message"}, timeout=10)
    assert answer.status_code == 404 and "not supported" in answer.json()["error"]
