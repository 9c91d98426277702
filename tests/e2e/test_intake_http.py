"""The intake endpoints over HTTP: auth, limits, wire formats, ticket webhooks, noise report."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import datetime

import pytest

from bot.webhooks import MAX_BODY
from storage.store import SqlStore
from tests.support.catalogs import INTAKE
from tests.support.intake_http import TOKEN, Http, am_body
from tests.support.world import World

GRAFANA_TOKEN = "grafana-token-0123456789"
CATALOG_HTTP = INTAKE + f"""  integrations:
    - {{name: grafana, token: {GRAFANA_TOKEN}}}
  rate_limit: {{per_second: 1, burst: 30}}
"""


@pytest.fixture
def http(store: SqlStore, start_time: datetime) -> Iterator[Http]:
    yield Http(World.for_intake(store, start_time, catalog=CATALOG_HTTP))


def test_alertmanager_webhook_opens_one_incident(http: Http) -> None:
    answers = [http.post("/webhooks/alertmanager", am_body()) for _ in range(3)]  # HA pair, repeats
    assert [a.status_code for a in answers] == [200] * 3
    assert answers[0].json()["incidents"] == [1]
    assert len(http.world.incidents()) == 1 and len(http.world.tickets.opened) == 1
    assert http.signals() == 3
    http.post("/webhooks/alertmanager", am_body(status="resolved"))
    assert "alert_resolved" in http.world.kinds(1)


def test_grafana_variant_with_its_own_token(http: Http) -> None:
    body = am_body("g1") | {"orgId": 1, "title": "[FIRING:1]", "state": "alerting", "version": "1"}
    body["alerts"][0]["dashboardURL"] = "https://grafana.example/d/x"
    answer = http.post("/webhooks/alertmanager", body, token=GRAFANA_TOKEN)
    assert answer.status_code == 200, answer.text
    assert "https://grafana.example/d/x" in http.world.tickets.opened[0][2]


def test_auth_size_and_malformed_bodies(http: Http) -> None:
    assert http.post("/webhooks/alertmanager", am_body(), token=None).status_code == 401
    assert http.post("/webhooks/alertmanager", am_body(), token="wrong").status_code == 401
    big = b"{" + b" " * (MAX_BODY + 10) + b"}"
    assert http.post("/webhooks/alertmanager", big).status_code == 413

    def chunks() -> Iterator[bytes]:
        for _ in range(40):
            yield b" " * 8192

    streamed = http.client.post("/webhooks/alertmanager", content=chunks(),
                                headers={"Authorization": f"Bearer {TOKEN}"})
    assert streamed.status_code == 413
    answer = http.post("/webhooks/alertmanager", b"{not json")
    assert answer.status_code == 400 and "not JSON" in answer.json()["message"]
    answer = http.post("/webhooks/alertmanager", am_body() | {"version": "3"})
    assert answer.status_code == 400 and "version" in answer.json()["message"]
    assert http.signals() == 0


def test_off_without_tokens(store: SqlStore, start_time: datetime) -> None:
    http = Http(World.for_intake(store, start_time), token=None)
    assert http.post("/webhooks/alertmanager", am_body(), token="x").status_code == 404


def test_floods_get_429(http: Http) -> None:
    codes = [http.post("/webhooks/alertmanager", am_body()).status_code for _ in range(40)]
    assert codes[:30] == [200] * 30 and 429 in codes[30:]
    # Another integration has a bucket of its own.
    assert http.post("/webhooks/alertmanager", am_body(), token=GRAFANA_TOKEN).status_code == 200


def test_pagerduty_events_v2(http: Http) -> None:
    event = {"routing_key": TOKEN, "event_action": "trigger", "dedup_key": "db-1",
             "payload": {"summary": "DB down", "source": "db1", "severity": "critical",
                         "component": "checkout", "custom_details": {"urgency": "high"}},
             "links": [{"href": "https://grafana.example/d/db", "text": "DB"}]}
    answer = http.post("/v2/enqueue", event, token=None)
    assert answer.status_code == 202
    assert answer.json() == {"status": "success", "message": "Event processed", "dedup_key": "db-1"}
    [incident] = http.world.incidents()
    assert incident.priority == "P1"
    no_key = dict(event)
    del no_key["dedup_key"]
    generated = http.post("/v2/enqueue", no_key, token=None).json()["dedup_key"]
    assert len(generated) == 32
    ack = {"routing_key": TOKEN, "event_action": "acknowledge", "dedup_key": "db-1"}
    assert http.post("/v2/enqueue", ack, token=None).status_code == 202
    assert http.world.incidents()[-1].state.value == "acknowledged"
    bad = http.post("/v2/enqueue", {"routing_key": TOKEN, "event_action": "trigger"}, token=None)
    assert bad.status_code == 400 and bad.json()["status"] == "invalid event"
    assert http.post("/v2/enqueue", {**ack, "routing_key": "nope"}, token=None).status_code == 401


class SignedTracker:
    """A tracker that reads signed webhooks the way the adapters do (HMAC over the raw body)."""

    system = "github"

    def __init__(self, tickets: object) -> None:
        self.tickets = tickets

    def open_ticket(self, **kw: object) -> str:
        return self.tickets.open_ticket(**kw)  # type: ignore[attr-defined, no-any-return]

    def update_ticket(self, **kw: object) -> None:
        self.tickets.update_ticket(**kw)  # type: ignore[attr-defined]

    def read_webhook(self, *, headers: dict[str, str], body: bytes):  # type: ignore[no-untyped-def]
        from adapters.github_issues import GitHubIssues

        github = GitHubIssues(token="t", repo="acme/ops", webhook_secret="whsec")
        github._login = "firebell-bot"  # noqa: SLF001
        change = github.read_webhook(headers=headers, body=body)
        return change and type(change)(**{**change.__dict__, "ticket": "OPS-1"})


def test_github_webhook_is_verified_and_resolves_the_incident(http: Http) -> None:
    http.world.ctx.tickets = SignedTracker(http.world.tickets)
    http.post("/webhooks/alertmanager", am_body())
    body = json.dumps({"action": "closed", "issue": {"number": 1},
                       "repository": {"full_name": "acme/ops"},
                       "sender": {"login": "carol"}}).encode()
    signature = "sha256=" + hmac.new(b"whsec", body, hashlib.sha256).hexdigest()
    headers = {"X-GitHub-Event": "issues", "X-GitHub-Delivery": "d-1"}
    bad = http.post("/webhooks/github", body, token=None, **headers, **{"X-Hub-Signature-256": "sha256=00"})
    assert bad.status_code == 401
    good = http.post("/webhooks/github", body, token=None, **headers, **{"X-Hub-Signature-256": signature})
    assert good.status_code == 200 and good.json()["status"] == "resolved"
    again = http.post("/webhooks/github", body, token=None, **headers, **{"X-Hub-Signature-256": signature})
    assert again.json()["status"] == "duplicate delivery"
    assert http.post("/webhooks/jira", body, token=None).status_code == 404


def test_noise_report_endpoint(http: Http) -> None:
    http.post("/webhooks/alertmanager", am_body())
    http.post("/webhooks/alertmanager", am_body())
    rows = http.client.get("/api/v1/reports/noise").json()["rules"]
    assert rows[0]["rule"] == "HighErrorRate" and rows[0]["signals"] == 2 and rows[0]["alerts"] == 1
    assert http.client.get("/api/v1/reports/noise?since=2026-01-01").status_code == 200  # catalog zone
    assert http.client.get("/api/v1/reports/noise?since=yesterday").status_code == 400


def test_nul_characters_are_refused_on_every_database(http: Http) -> None:
    answer = http.post("/webhooks/alertmanager", am_body(service="check\x00out"))
    assert answer.status_code == 400 and "NUL" in answer.json()["message"]
