"""What an operator reads: `firebell serve` with LOG_FORMAT=json and LOG_LEVEL=INFO, an incident
declared in Slack (paged, escalated, acknowledged, a second ack refused, resolved) and an alert
through the webhook (opened, resolved at its source). Its log has one JSON object per line, one
`page` line per page sent, one line per escalation, ack, resolve and accepted signal, an access
line per request without query strings, and no secret anywhere."""

from __future__ import annotations

import json
import logging
import os
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.calendars import calendar_token
from bot.logs import JsonFormatter, safe_path
from storage.store import SqlStore
from tests.support.intake_http import am_body
from tests.support.serve import Serve
from tests.support.slack_fake import FakeSlack
from tests.support.slack_helpers import (
    BOT_TOKEN,
    DEMO_CATALOG,
    SIGNING_SECRET,
    SlackSender,
    free_port,
)
from tests.support.twilio_fake import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, FakeTwilio
from workflows.model import PageStatus

WEBHOOK_TOKEN = "wh-0123456789abcdef-webhook-token"
API_TOKEN = "api-0123456789abcdef-api-token"
CALENDAR_SECRET = "cal-0123456789abcdef-calendar-secret"
ACK_TIMEOUT = 2  # seconds, every step
BODY_MARKER = "body-marker-7f3a9c"  # in request bodies only


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio() as fake:
        yield fake


def _catalog(tmp_path: Path) -> Path:
    text = DEMO_CATALOG.read_text().replace("ack_timeout: 30s", f"ack_timeout: {ACK_TIMEOUT}s")
    path = tmp_path / "catalog.yaml"
    path.write_text(text)
    return path


def _wait(predicate: Any, *, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting for {predicate}"
        time.sleep(0.05)
    return value


def _records(log: Path) -> list[dict[str, Any]]:
    """Every line of the log, each a JSON object with time, level, logger and message."""
    records = []
    for line in log.read_text().splitlines():
        record = json.loads(line)  # a line that is not JSON fails here
        assert {"time", "level", "logger", "message"} <= record.keys(), line
        records.append(record)
    return records


def _events(records: list[dict[str, Any]], event: str) -> list[dict[str, Any]]:
    return [r for r in records if r["logger"] == "firebell.events" and r.get("event") == event]


@pytest.mark.slow
def test_serve_logs_each_fact_once_as_json_and_never_a_secret(
    tmp_path: Path, slack: FakeSlack, twilio: FakeTwilio
) -> None:
    port = free_port()
    database = tmp_path / "firebell.db"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "TWILIO_", "LOG_"))},
        "FIREBELL_CONFIG": str(_catalog(tmp_path)), "DATABASE_URL": f"sqlite:///{database}",
        "HOST": "127.0.0.1", "PORT": str(port), "PUBLIC_URL": f"http://127.0.0.1:{port}",
        "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url, "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_FROM_NUMBER": FROM_NUMBER,
        "TWILIO_API_URL": twilio.api_url, "FIREBELL_WEBHOOK_TOKEN": WEBHOOK_TOKEN,
        "FIREBELL_API_TOKEN": API_TOKEN, "FIREBELL_CALENDAR_SECRET": CALENDAR_SECRET,
        "FIREBELL_POLL_SECONDS": "1", "LOG_FORMAT": "json", "LOG_LEVEL": "INFO",
    }
    serve = Serve(env, tmp_path / "serve.log").start()
    feed_token = calendar_token(CALENDAR_SECRET, "person:alice")
    try:
        sender = SlackSender(serve.url, slack)
        # Declared by Erin: Alice is paged; nobody acknowledges, so Bob is paged next.
        response, _ = sender.command("/incident", "declare service=checkout severity=critical "
                                     "urgency=high Checkout is down", user="U0ERIN")
        assert response.status_code == 200
        _wait(lambda: slack.direct_messages("U0BOB") and twilio.messages("+15550100002"),
              timeout=ACK_TIMEOUT + 10)
        response, key = sender.button("ack", "1", user="U0BOB", channel="DU0BOB")
        assert response.status_code == 200
        slack.wait_for_response(key)
        response, key = sender.button("ack", "1", user="U0ALICE", channel="DU0ALICE")
        assert "already acknowledged" in slack.wait_for_response(key)[0]  # refused: no line
        channel = next(c for c, v in slack.channels.items() if v["name"].startswith("inc-"))
        response, key = sender.button("resolve", "1", user="U0BOB", channel=channel)
        assert slack.wait_for_response(key) == ["INC-1 resolved."]

        # An alert through the webhook opens INC-2, then resolves at its source.
        webhook = f"{serve.url}/webhooks/alertmanager"
        bearer = {"Authorization": f"Bearer {WEBHOOK_TOKEN}"}
        firing = am_body("fp-log", service="checkout")
        firing["alerts"][0]["annotations"]["description"] = BODY_MARKER
        assert httpx.post(webhook, json=firing, headers=bearer).status_code == 200
        _wait(lambda: len(twilio.messages("+15550100001")) == 2)  # Alice's page of INC-2 went
        assert httpx.post(webhook, json=am_body("fp-log", status="resolved"),
                          headers=bearer).status_code == 200
        # Refused requests with a secret-bearing URL or a body: their access lines carry neither.
        assert httpx.post(f"{webhook}?token={WEBHOOK_TOKEN}", content=BODY_MARKER).status_code \
            == 401
        sender.post(f"command={BODY_MARKER}", "application/x-www-form-urlencoded",
                    headers={"X-Slack-Signature": "v0=bad"})
        # Signed, of a type nobody listens to: Bolt's warning would quote the body.
        sender.event({"type": BODY_MARKER, "user": "U0ALICE"}, event_id="Ev0BODYMARK")
        assert httpx.get(f"{serve.url}/calendars/people/alice.ics?token={feed_token}") \
            .status_code == 200
        assert httpx.get(f"{serve.url}/api/v1/oncall",
                         headers={"Authorization": f"Bearer {API_TOKEN}"}).status_code == 200
        sender.close()
        time.sleep(0.5)  # the last lines reach the log
    finally:
        serve.stop()

    log = serve.log.read_text()
    records = _records(serve.log)
    store = SqlStore(f"sqlite:///{database}")
    try:
        with store.transaction() as tx:
            pages = [p for i in (1, 2) for p in tx.pages(i)]
    finally:
        store.dispose()

    # One `page` line per page sent, naming person, channel, incident and attempt.
    sent = Counter((p.person, p.channel, f"INC-{p.incident_id}") for p in pages
                   if p.status in (PageStatus.SENT, PageStatus.ACKNOWLEDGED))
    lines = _events(records, "page")
    assert Counter((e["person"], e["channel"], e["incident"]) for e in lines) == sent
    assert {("alice", "INC-1"), ("bob", "INC-1"), ("alice", "INC-2")} <= {
        (person, ref) for person, _, ref in sent}
    assert all(e["attempt"] == 1 and e["outcome"] == "sent" for e in lines)
    assert [(e["incident"], e["reason"], e["step"]) for e in _events(records, "escalation")] == [
        ("INC-1", "timeout", 2)]
    assert [(e["incident"], e["by"]) for e in _events(records, "acknowledged")] == [
        ("INC-1", "bob")]
    assert sorted((e["incident"], e["by"]) for e in _events(records, "resolved")) == [
        ("INC-1", "bob"), ("INC-2", "default")]
    assert sorted((e["incident"], e["source"]) for e in _events(records, "incident")) == [
        ("INC-1", "declared"), ("INC-2", "alert")]
    assert [(e["source"], e["outcome"], e.get("incident")) for e in _events(records, "signal")] \
        == [("alertmanager", "opened", "INC-2"), ("alertmanager", "resolved", "INC-2")]

    # Start-up says where it listens; APScheduler's wake-ups are not logged.
    assert any(r["message"] == f"listening on http://127.0.0.1:{port}" for r in records)
    assert not [r for r in records if r["logger"].startswith("apscheduler")
                and r["level"] == "INFO"]

    # An access line per request: method, path (no query string), status.
    requests = [r for r in records if r["logger"] == "uvicorn.access"]
    assert all(r.get("event") == "request" for r in requests)
    assert ("GET", "/calendars/people/alice.ics?[query]", 200) in {
        (r["method"], r["path"], r["status"]) for r in requests}
    assert ("POST", "/webhooks/alertmanager?[query]", 401) in {
        (r["method"], r["path"], r["status"]) for r in requests}
    assert sum(r["path"] == "/slack/events" for r in requests) >= 4

    for secret in (SIGNING_SECRET, BOT_TOKEN, WEBHOOK_TOKEN, API_TOKEN, CALENDAR_SECRET,
                   AUTH_TOKEN, feed_token, BODY_MARKER, "5550100001", "5550100002"):
        assert secret not in log, f"{secret!r} is in the log"


def test_json_lines_stay_one_line_and_carry_an_events_fields() -> None:
    record = logging.LogRecord("firebell.events", logging.INFO, __file__, 1, "page %s", (
        "incident=INC-1\nforged",), None)
    record.event, record.fields = "page", {"incident": "INC-1", "attempt": 2}
    line = JsonFormatter().format(record)
    assert "\n" not in line
    assert json.loads(line) | {"time": None} == {
        "time": None, "level": "INFO", "logger": "firebell.events", "event": "page",
        "message": "page incident=INC-1\\nforged", "incident": "INC-1", "attempt": 2}


def test_access_paths_lose_their_query_and_token_like_segments() -> None:
    assert safe_path("/calendars/people/alice.ics?token=0123abcd") == \
        "/calendars/people/alice.ics?[query]"
    assert safe_path("/webhooks/alertmanager/9f86d081884c7d659a2feaa0c55ad015") == \
        "/webhooks/alertmanager/[redacted]"
    assert safe_path("/calendars/payments-primary.ics") == "/calendars/payments-primary.ics"
    assert safe_path("/api/v1/incidents/12/postmortem") == "/api/v1/incidents/12/postmortem"
