"""Hostile input (DESIGN.md: "Bad input gets a clear 4xx and changes nothing; no input reachable
without credentials can cause a 5xx, fill the memory or the log, or write a forged log line").

`firebell serve` runs as a child process with Slack, Twilio, the alert webhooks, GitHub tickets,
the JSON API and calendar feeds on; every endpoint is sent oversized, malformed, non-UTF-8,
control-character and wrong-type input over real HTTP. The server's memory is read from
/proc/<pid>/status and its log from the file its stdout and stderr go to.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import select
import socket
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode
from xml.etree import ElementTree

import httpx
import pytest

from bot.calendars import calendar_token
from bot.logs import FORMAT, OneLineFormatter
from tests.support.databases import fresh_database
from tests.support.serve import Serve
from tests.support.slack_fake import FakeSlack
from tests.support.slack_helpers import (
    API_TOKEN,
    BOT_TOKEN,
    SIGNING_SECRET,
    SlackSender,
    free_port,
    signature_headers,
)
from tests.support.twilio_app import ALICE, TwilioApp
from tests.support.twilio_fake import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, FakeTwilio, signed_post
from workflows.incident.declare import DeclareRequest, declare

pytestmark = pytest.mark.slow

MiB = 1024 * 1024
WEBHOOK_TOKEN = "hostile-webhook-token"
GITHUB_SECRET = "hostile-github-secret"
CALENDAR_SECRET = "hostile-calendar-secret"
FORGED = "FORGED-LINE"  # what an attacker would like to start a log line with
BODY_MARK = "BODY-MARK-7f3a"  # in request bodies: must never appear in the log
# A record as bot/logs.py writes it ("2026-01-01 10:00:00,123 WARNING name: message").
RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ \S+: ")
CATALOG = textwrap.dedent("""\
    timezone: UTC
    people:
      - {id: alice, name: Alice Doe, phone: "+15550100001", slack: U0ALICE}
      - {id: bob, name: Bob Brandt, phone: "+15550100002", slack: U0BOB}
    teams:
      - {id: payments, name: Payments, slack_channel: C0PAYMENTS, escalation_policy: payments}
    services:
      - {id: checkout, name: Checkout API, team: payments, match: {service: checkout}}
    schedules:
      - id: primary
        team: payments
        rotation: {every: 1d, handoff: "09:00", start: "2026-01-05", members: [alice, bob]}
    escalation_policies:
      - id: payments
        steps:
          - {notify: ["schedule:primary"], ack_timeout: 5m}
    priorities:
      matrix:
        critical: {high: P1, low: P2}
        major: {high: P2, low: P3}
        minor: {high: P3, low: P4}
      response:
        P1: {page: true, ack_within: 5m, channels: [chat], update_every: 15m, monitor_for: 1h}
        P2: {page: true, ack_within: 15m, channels: [chat], update_every: 20m, monitor_for: 30m}
        P3: {page: false, ack_within: 8h business, channels: [chat]}
        P4: {page: false, ack_within: 5d business, channels: [ticket]}
""")


class Server(Serve):
    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def rss_mib(self) -> float:
        status = Path(f"/proc/{self.pid}/status").read_text()
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        assert match, status
        return int(match.group(1)) / 1024

    def log_lines(self) -> list[str]:
        return self.log.read_text(errors="replace").splitlines()


@dataclass
class Hostile:
    server: Server
    slack: FakeSlack
    url: str

    def lines_since(self, mark: int) -> list[str]:
        return self.server.log_lines()[mark:]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def hostile(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[Hostile]:
    tmp = tmp_path_factory.mktemp(f"hostile-{request.param}")
    databases = fresh_database(request.param, tmp)
    database_url = next(databases)
    catalog = tmp / "catalog.yaml"
    catalog.write_text(CATALOG)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with FakeSlack() as slack, FakeTwilio() as twilio:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "TWILIO_"))},
            "FIREBELL_CONFIG": str(catalog), "DATABASE_URL": database_url,
            "HOST": "127.0.0.1", "PORT": str(port), "PUBLIC_URL": url,
            "FIREBELL_POLL_SECONDS": "3600",
            "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack.api_url,
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_FROM_NUMBER": FROM_NUMBER, "TWILIO_API_URL": twilio.api_url,
            "GITHUB_TOKEN": "ghp-hostile", "GITHUB_REPO": "acme/ops",
            "GITHUB_API_URL": "http://127.0.0.1:9/", "GITHUB_WEBHOOK_SECRET": GITHUB_SECRET,
            "FIREBELL_WEBHOOK_TOKEN": WEBHOOK_TOKEN, "FIREBELL_API_TOKEN": API_TOKEN,
            "FIREBELL_CALENDAR_SECRET": CALENDAR_SECRET,
        }
        server = Server(env, tmp / "serve.log")
        server.start()
        try:
            yield Hostile(server=server, slack=slack, url=url)
        finally:
            server.stop()
    next(databases, None)


# ---- raw HTTP, for what httpx will not send ------------------------------------------------

def _connect(h: Hostile) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", int(h.server.env["PORT"])), timeout=10)
    return sock


def _head(path: str, headers: dict[str, str], *, method: str = "POST") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _status(answer: bytes) -> int:
    match = re.match(rb"HTTP/1\.1 (\d{3}) ", answer)
    assert match, answer[:200]
    return int(match.group(1))


def _read_answer(sock: socket.socket, *, timeout: float = 10.0) -> bytes:
    sock.settimeout(timeout)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return data


def _stream(h: Hostile, path: str, headers: dict[str, str], *, total: int,
            chunked: bool) -> tuple[int, int]:
    """POST `total` bytes, stopping as soon as the server answers; (status, bytes sent)."""
    sock = _connect(h)
    head = {**headers, **({"Transfer-Encoding": "chunked"} if chunked
                          else {"Content-Length": str(total)})}
    sock.sendall(_head(path, head))
    piece, sent = (BODY_MARK.encode() + b"x" * 65536)[:65536], 0
    try:
        while sent < total:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            sent += len(piece)
        if chunked and sent >= total:
            sock.sendall(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    answer = _read_answer(sock)
    sock.close()
    return _status(answer), sent


# ---- the fuzz ------------------------------------------------------------------------------

def _unsigned_requests(h: Hostile) -> list[tuple[str, str, dict[str, str], bytes]]:
    """(method, path, headers, body): what anyone on the internet can send."""
    injected = f"x\n{FORGED} ERROR firebell: forged\r\n{FORGED}\x1b[2J\u2028{FORGED}"
    form = "application/x-www-form-urlencoded"
    bodies = [
        b"", b"\xff\xfe\x00garbage", f"{BODY_MARK} {injected}".encode(),
        urlencode({"payload": "{not json", "x": BODY_MARK + injected}).encode(),
        json.dumps({"type": "event_callback", "event": BODY_MARK + injected}).encode(),
        b"[" * 100_000, b"\x00" * 1000, json.dumps([1, 2, BODY_MARK]).encode(),
    ]
    timestamps = ["9" * 400, "\u00b2\u00b3", "-1", "1e9", "0x1F", "", str(int(time.time()))]
    requests: list[tuple[str, str, dict[str, str], bytes]] = []
    for body in bodies:
        for timestamp in timestamps:
            headers = {"Content-Type": form, "X-Slack-Signature": "v0=" + "0" * 64}
            if timestamp:
                headers["X-Slack-Request-Timestamp"] = timestamp
            requests.append(("POST", "/slack/events", headers, body))
        for path in ("/twilio/sms", "/twilio/voice?incident=1&person=alice",
                     "/twilio/status?page=99999999999999999999"):
            requests.append(("POST", path, {"Content-Type": form}, body))
            requests.append(("POST", path, {"Content-Type": form, "X-Twilio-Signature": "bad"},
                             body))
        for path in ("/webhooks/alertmanager", "/v2/enqueue", "/webhooks/github",
                     "/webhooks/jira", "/api/messages", "/api/v1/incidents"):
            requests.append(("POST", path, {"Content-Type": "application/json"}, body))
            requests.append(("POST", path, {"Authorization": "Bearer wrong"}, body))
    # PagerDuty senders may authenticate in the body: it is read without credentials.
    for event in ({"routing_key": "wrong", "event_action": "trigger"}, {"routing_key": 5},
                  {"routing_key": ["x"]}, {"routing_key": {"a": injected}}, [BODY_MARK]):
        requests.append(("POST", "/v2/enqueue", {}, json.dumps(event).encode()))
    for path in ("/healthz", "/metrics", "/metrics?" + urlencode({"x": injected}), "/api/v1/incidents",
                 "/api/v1/oncall?at=9999-12-31T23:59:59Z", "/api/v1/incidents/1/postmortem",
                 "/api/v1/contact.vcf", "/api/v1/reports/paging", "/api/v1/reports/noise",
                 "/api/v1/reports/oncall.csv", "/calendars/primary.ics",
                 "/calendars/primary.ics?token=" + "f" * 32, "/calendars/%0A" + FORGED + ".ics",
                 "/calendars/people/alice.ics?token=%00%0A" + FORGED, "/nowhere/%0d%0a" + FORGED,
                 "/slack/events", "/" + "a" * 8000, "/status", "/status.json",
                 "/status?" + urlencode({"x": injected}), "/api/v1/openapi.json",
                 "/api/v1/insights/frequency", "/reports", "/incidents/1", "/signin"):
        requests.append(("GET", path, {}, b""))
        requests.append(("GET", path, {"Authorization": "Bearer " + injected.replace("\n", " ")
                                       .replace("\r", " ").replace("\x1b", " ")
                                       .replace("\u2028", " ")}, b""))
    for method in ("PUT", "DELETE", "PATCH", "OPTIONS"):
        requests.append((method, "/slack/events", {}, BODY_MARK.encode()))
    return requests


def test_anything_sent_without_credentials_gets_a_4xx_and_one_line_of_log_at_most(
    hostile: Hostile,
) -> None:
    h = hostile
    mark = len(h.server.log_lines())
    requests = _unsigned_requests(h)
    answers = []
    with httpx.Client(base_url=h.url, timeout=30) as client:
        for method, path, headers, body in requests:
            sent = {name: value.encode() for name, value in headers.items()}  # UTF-8, as is
            answer = client.request(method, path, headers=sent, content=body)
            answers.append((answer.status_code, method, path, body[:60]))
    assert [a for a in answers if a[0] >= 500] == []
    public = ("/healthz", "/metrics", "/api/v1/contact.vcf", "/status", "/status.json")
    assert all(400 <= status < 500 or path in public or path.startswith(("/metrics?", "/status?"))
               for status, _, path, _ in answers), [a for a in answers if not 400 <= a[0] < 500]
    # Requests HTTP itself forbids: uvicorn answers 400 and says so in one line.
    for raw in (b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
                b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: \xc2\xb2\xc2\xb3\r\n\r\n",
                b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
                b"GET /\n" + FORGED.encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n"):
        sock = _connect(h)
        sock.sendall(raw)
        assert 400 <= _status(_read_answer(sock)) < 500
        sock.close()
    time.sleep(0.5)  # let the last records reach the file

    lines = h.lines_since(mark)
    assert len(lines) <= len(requests) + 4, "\n".join(lines[:50])
    assert not any(BODY_MARK in line for line in lines), [ln for ln in lines if BODY_MARK in ln]
    assert [line for line in lines if not RECORD.match(line)] == []
    assert not any(line.startswith(FORGED) for line in lines)
    assert not any("Traceback" in line for line in lines)


def test_huge_bodies_are_refused_unread_and_the_memory_stays_put(hostile: Hostile) -> None:
    h = hostile
    mark = len(h.server.log_lines())
    slack_headers = {"Content-Type": "application/x-www-form-urlencoded",
                     **signature_headers("whatever")}
    targets = [
        ("/slack/events", slack_headers),
        ("/twilio/sms", {"X-Twilio-Signature": "bad", "Content-Type": "application/x-www-form-urlencoded"}),
        ("/v2/enqueue", {"Content-Type": "application/json"}),
        ("/webhooks/alertmanager", {"Authorization": f"Bearer {WEBHOOK_TOKEN}"}),
        ("/webhooks/github", {"X-GitHub-Event": "issues"}),
    ]
    before = h.server.rss_mib()
    for path, headers in targets:
        for chunked in (False, True):
            status, sent = _stream(h, path, headers, total=50 * MiB, chunked=chunked)
            assert status == 413, (path, chunked, status)
            assert sent < 20 * MiB, (path, chunked, sent)  # answered long before the end
    # Nothing was read: a GET with a big body is refused from its Content-Length alone.
    sock = _connect(h)
    sock.sendall(_head("/healthz", {"Content-Length": str(100 * MiB)}, method="GET"))
    assert _status(_read_answer(sock)) == 413
    sock.close()
    assert h.server.rss_mib() - before < 100
    # One megabyte is fine (Slack's payloads are far below): refused for its signature only.
    body = "x=" + "y" * (MiB - 100)
    assert httpx.post(h.url + "/slack/events", content=body, headers=slack_headers,
                      timeout=30).status_code == 401
    time.sleep(0.5)
    lines = h.lines_since(mark)
    assert len(lines) <= 2 * len(targets) + 2, lines
    assert sum(len(line) for line in lines) < 20_000


def test_a_client_that_leaves_mid_body_leaves_no_traceback(hostile: Hostile) -> None:
    h = hostile
    mark = len(h.server.log_lines())
    for path, headers in [
        ("/slack/events", signature_headers("whatever")),
        ("/twilio/sms", {"X-Twilio-Signature": "bad"}),
        ("/webhooks/alertmanager", {"Authorization": f"Bearer {WEBHOOK_TOKEN}"}),
        ("/v2/enqueue", {}),
    ]:
        sock = _connect(h)
        sock.sendall(_head(path, {**headers, "Content-Length": "5000"}) + b"payload=%7B")
        time.sleep(0.2)
        sock.close()
    time.sleep(1.0)
    assert httpx.get(h.url + "/healthz", timeout=10).status_code == 200
    lines = h.lines_since(mark)
    assert not [line for line in lines if "Traceback" in line or "Exception" in line
                or "ClientDisconnect" in line], lines


def test_a_body_that_trickles_in_is_cut_off(hostile: Hostile) -> None:
    h = hostile
    sock = _connect(h)
    started = time.monotonic()
    sock.sendall(_head("/slack/events", {**signature_headers("x"), "Content-Length": "1000"})
                 + b"a=b")
    answer = _read_answer(sock, timeout=30)
    sock.close()
    assert _status(answer) == 408
    assert time.monotonic() - started < 15


def test_the_api_token_is_refused_in_the_url(hostile: Hostile) -> None:
    url = hostile.url + "/api/v1/incidents"
    assert httpx.get(url, params={"token": API_TOKEN}, timeout=10).status_code == 401
    assert httpx.get(url, headers={"Authorization": f"Bearer {API_TOKEN}"},
                     timeout=10).status_code == 200
    # Calendar feeds keep their own token in the URL: calendar apps cannot send headers.
    feed = f"/calendars/primary.ics?token={calendar_token(CALENDAR_SECRET, 'schedule:primary')}"
    assert httpx.get(hostile.url + feed, timeout=10).status_code == 200


def test_what_a_request_puts_in_a_log_record_stays_on_its_line(hostile: Hostile) -> None:
    # A signed event of a type nobody listens to: Bolt warns with (part of) the body and a
    # many-line suggestion; it is one record, and one line, without the body.
    mark = len(hostile.server.log_lines())
    slack = SlackSender(hostile.url, hostile.slack)
    try:
        answer = slack.event({"type": f"x\n{FORGED} ERROR firebell: forged", "user": "U0ALICE"},
                             event_id=f"Ev{uuid.uuid4().hex[:10]}")
    finally:
        slack.close()
    assert answer.status_code < 500
    time.sleep(0.5)
    lines = hostile.lines_since(mark)
    assert [line for line in lines if not RECORD.match(line)] == []
    warnings = [line for line in lines if " uvicorn.access: " not in line]  # besides its request
    assert len(warnings) <= 1 and not any(FORGED in line for line in warnings)


def test_a_record_is_one_line_and_a_traceback_cannot_start_one() -> None:
    formatter = OneLineFormatter(FORMAT)
    try:
        raise ValueError(f"bad\n{FORGED} ERROR firebell: forged")
    except ValueError:
        record = logging.LogRecord("firebell", logging.ERROR, __file__, 1,
                                   "got %s", (f"a\n{FORGED}\r\x1b[2J\u2028b" + "x" * 5000,),
                                   sys.exc_info())
    first, *rest = formatter.format(record).split("\n")
    assert RECORD.match(first) and "a\\n" + FORGED in first and "\\x1b" in first
    assert len(first) < 2500
    assert rest and all(line.startswith("    ") for line in rest)


# ---- each case that was a 5xx --------------------------------------------------------------

@pytest.mark.parametrize("timestamp", ["9" * 400, "\u00b2\u00b3"])
def test_a_slack_timestamp_that_is_no_time_is_401(hostile: Hostile, timestamp: str) -> None:
    body = "command=%2Fincident&text=help"
    headers = {**signature_headers(body), "X-Slack-Request-Timestamp": timestamp,
               "Content-Type": "application/x-www-form-urlencoded"}
    sent = {name: value.encode() for name, value in headers.items()}
    answer = httpx.post(hostile.url + "/slack/events", content=body.encode("utf-8"),
                        headers=sent, timeout=10)
    assert answer.status_code == 401


def test_a_twilio_body_that_is_not_utf8_is_400(hostile: Hostile) -> None:
    answer = httpx.post(hostile.url + "/twilio/sms", content=b"Body=\xff\xfe&From=%2B1",
                        headers={"X-Twilio-Signature": "anything",
                                 "Content-Type": "application/x-www-form-urlencoded"}, timeout=10)
    assert answer.status_code == 400 and "UTF-8" in answer.text


@pytest.mark.parametrize("body, content_type", [
    ("payload={not json", "application/x-www-form-urlencoded"),
    ("payload=[1,2]", "application/x-www-form-urlencoded"),
    ("payload=" + json.dumps({"type": "block_actions", "authorizations": 5}),
     "application/x-www-form-urlencoded"),
    ("[1,2]", "application/json"),
    ("{not json", "application/json"),
])
def test_signed_garbage_on_slack_events_is_400(
    hostile: Hostile, body: str, content_type: str
) -> None:
    headers = {**signature_headers(body), "Content-Type": content_type}
    answer = httpx.post(hostile.url + "/slack/events", content=body.encode(), headers=headers,
                        timeout=10)
    assert answer.status_code == 400, answer.text


@pytest.mark.parametrize("event", [
    {"action": "closed", "issue": {"number": 1}, "repository": "acme/ops"},
    {"action": "closed", "issue": {"number": 1}, "sender": ["carol"]},
    {"action": "labeled", "issue": {"number": 1}, "label": 5},
])
def test_a_github_webhook_with_wrong_field_types_is_400(
    hostile: Hostile, event: dict[str, object]
) -> None:
    body = json.dumps(event).encode()
    signature = "sha256=" + hmac.new(GITHUB_SECRET.encode(), body, hashlib.sha256).hexdigest()
    answer = httpx.post(hostile.url + "/webhooks/github", content=body, timeout=10, headers={
        "X-GitHub-Event": "issues", "X-GitHub-Delivery": uuid.uuid4().hex,
        "X-Hub-Signature-256": signature, "Content-Type": "application/json"})
    assert answer.status_code == 400, answer.text


@pytest.mark.parametrize("path, status", [
    ("/api/v1/incidents/99999999999999999999999/postmortem", 404),
    ("/api/v1/incidents/INC-99999999999999999999999/postmortem", 404),
    ("/api/v1/incidents/2147483648/postmortem", 404),
    ("/api/v1/incidents/99999999999999999999999", 404),
    ("/api/v1/oncall?at=9999-12-31T23:59:59Z", 400),
    ("/api/v1/oncall?at=0001-01-01T00:00:00%2B05:00", 400),
    ("/api/v1/reports/paging?until=0001-01-01T00:00:00Z", 400),
    ("/api/v1/reports/paging?since=9999-12-31T23:59:59Z", 400),
    ("/api/v1/reports/noise?since=0001-01-01T00:00:00Z", 400),
    ("/api/v1/reports/oncall.csv?from=0001-01-01T00:00:00Z", 400),
    ("/api/v1/reports/oncall.csv?to=9999-12-31T23:59:59Z", 400),
    ("/api/v1/insights/response-times?since=0001-01-01T00:00:00Z", 400),
    ("/api/v1/insights/frequency?until=9999-12-31T23:59:59Z", 400),
    ("/api/v1/insights/pages-per-night?since=2026-01-01&by=decade", 400),
    ("/api/v1/incidents?state=all&cursor=99999999999999999999999", 400),
    ("/api/v1/incidents?limit=99999999999999999999999", 400),
])
def test_huge_numbers_and_dates_in_the_api_are_4xx(hostile: Hostile, path: str, status: int) -> None:
    answer = httpx.get(hostile.url + path, headers={"Authorization": f"Bearer {API_TOKEN}"},
                       timeout=10)
    assert answer.status_code == status, answer.text


def test_a_huge_incident_number_in_a_command_says_there_is_none(hostile: Hostile) -> None:
    slack = SlackSender(hostile.url, hostile.slack)
    try:
        answer, key = slack.command("/incident", "ack INC-99999999999999999999999", user="U0ALICE")
        assert answer.status_code == 200
        replies = " ".join([answer.text, *hostile.slack.wait_for_response(key)])
        assert "there is no incident INC-99999999999999999999999" in replies
    finally:
        slack.close()


def test_huge_numbers_in_twilio_callbacks_are_answered_not_failed(hostile: Hostile) -> None:
    url = hostile.url
    voice = signed_post(f"{url}/twilio/voice?incident=99999999999999999999&person=alice",
                        {"Digits": "1", "CallSid": "CA1"})
    assert voice.status_code == 400
    sms = signed_post(f"{url}/twilio/sms", {"From": ALICE, "Body": "ack 99999999999999999999"})
    assert sms.status_code == 200 and "there is no incident" in sms.text
    status = signed_post(f"{url}/twilio/status?page=99999999999999999999",
                         {"MessageSid": "SM" + "1" * 32, "MessageStatus": "delivered"})
    assert status.status_code in (204, 400)


# ---- what a page carries -------------------------------------------------------------------

def test_a_huge_title_pages_within_twilios_limits(tmp_path: Path) -> None:
    with FakeTwilio() as twilio:
        world = TwilioApp(tmp_path, f"sqlite:///{tmp_path / 'firebell.db'}", twilio)
        try:
            title = "Checkout is down " + "very " * 2400  # 12,000+ characters
            incident = declare(world.firebell.ctx, DeclareRequest(
                title=title, service="checkout", severity="critical", urgency="high"))
            [sms] = twilio.messages(ALICE)
            assert len(sms.body) <= 1600
            assert incident.ref in sms.body and "Checkout is down very" in sms.body
            assert "..." in sms.body and "Reply 1 to acknowledge. [page " in sms.body
            [call] = twilio.calls(ALICE)
            assert len(call.body) < 3000
            gather = ElementTree.fromstring(call.body).find("Gather")
            assert gather is not None
            spoken = [say.text or "" for say in gather.findall("Say")]
            assert "Press 1 to acknowledge" in spoken[0] and len(spoken[0]) <= 700
            assert f"INC-{incident.id}" in spoken[0] or incident.ref in spoken[0]
        finally:
            world.close()


def test_a_long_title_still_reaches_the_page_whole_when_it_fits(tmp_path: Path) -> None:
    with FakeTwilio() as twilio:
        world = TwilioApp(tmp_path, f"sqlite:///{tmp_path / 'firebell.db'}", twilio)
        try:
            title = "Checkout is down in eu-west-1 " + "x" * 150  # 180 characters: kept whole
            declare(world.firebell.ctx, DeclareRequest(
                title=title, service="checkout", severity="critical", urgency="high"))
            [sms] = twilio.messages(ALICE)
            assert title in sms.body
        finally:
            world.close()

