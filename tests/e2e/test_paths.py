"""The paths people take across areas: every way an incident starts × every way it continues.

Each cell runs through the real HTTP server: signed Slack requests to the real Bolt app, signed
Twilio callbacks, token-authenticated monitoring webhooks in their vendors' shapes, a signed
GitHub webhook, against loopback fakes of Slack, Twilio and GitHub. Time is a fake clock the
test moves; due deadlines run with `firebell.tick()`, as the scheduler would. Every cell asserts
the outcome (who is paged, the incident's state, what the channel and the reports say), not
just a 2xx.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.github_fake import REPO, TOKEN, WEBHOOK_SECRET, FakeGitHub
from tests.support.slack_fake import FakeSlack
from tests.support.slack_helpers import (
    API_TOKEN,
    BOT_TOKEN,
    DEMO_CATALOG,
    SIGNING_SECRET,
    SlackSender,
    ThreadedServer,
    free_port,
    modal_values,
)
from tests.support.twilio_fake import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, FakeTwilio, signed_post
from workflows.clock import FakeClock
from workflows.dispatch import inline
from workflows.model import PageStatus, State

pytestmark = pytest.mark.slow

START = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)  # a Tuesday: alice primary, bob secondary
WEBHOOK_TOKEN = "paths-webhook-token-0123456789"
PD_ROUTING_KEY = "R0UTINGKEY0123456789ABCDEFGHIJKL"
ALICE, BOB, ERIN = "+15550100001", "+15550100002", "+15550100005"
CATALOG_EXTRA = f"""
intake:
  grouping_window: 10m
  integrations:
    - {{name: pagerduty, token: {PD_ROUTING_KEY}}}
"""


class World:
    """Firebell as `serve` builds it, at its PUBLIC_URL, with every vendor faked on loopback."""

    def __init__(self, tmp_path: Path) -> None:
        catalog = tmp_path / "catalog.yaml"
        catalog.write_text(DEMO_CATALOG.read_text() + CATALOG_EXTRA)
        self.slack_fake = FakeSlack().start()
        self.twilio = FakeTwilio().start()
        self.github = FakeGitHub().start()
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        from app import Settings, build
        from bot.server import build_http_app

        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            firebell_config=str(catalog), database_url=f"sqlite:///{tmp_path / 'firebell.db'}",
            slack_bot_token=BOT_TOKEN, slack_signing_secret=SIGNING_SECRET,
            slack_api_url=self.slack_fake.api_url, firebell_api_token=API_TOKEN,
            firebell_webhook_token=WEBHOOK_TOKEN, public_url=self.url,
            twilio_account_sid=ACCOUNT_SID, twilio_auth_token=AUTH_TOKEN,
            twilio_from_number=FROM_NUMBER, twilio_api_url=self.twilio.api_url,
            github_token=TOKEN, github_repo=REPO, github_api_url=self.github.api_url,
            github_webhook_secret=WEBHOOK_SECRET,
        )
        self.clock = FakeClock(START)
        self.firebell = build(settings, clock=self.clock)
        self.firebell.ctx.dispatch = inline  # effects are performed by the committing thread
        self.server = ThreadedServer(build_http_app(self.firebell), port=port).start()
        self.slack = SlackSender(self.server.url, self.slack_fake)
        self.http = httpx.Client(base_url=self.url, timeout=10)

    def close(self) -> None:
        self.http.close()
        self.slack.close()
        self.server.stop()
        for fake in (self.slack_fake, self.twilio, self.github):
            fake.stop()
        self.firebell.store.dispose()

    # reading ---------------------------------------------------------------------------
    def incident(self, incident_id: int) -> Any:
        with self.firebell.store.transaction() as tx:
            return tx.get_incident(incident_id)

    def incident_ids(self) -> list[int]:
        with self.firebell.store.transaction() as tx:
            return [i.id or 0 for i in tx.list_incidents(open_only=False)]

    def kinds(self, incident_id: int) -> list[str]:
        with self.firebell.store.transaction() as tx:
            return [e.kind for e in tx.events(incident_id)]

    def pages(self, incident_id: int) -> list[Any]:
        with self.firebell.store.transaction() as tx:
            return list(tx.pages(incident_id))

    def reached(self, phone: str, user: str) -> int:
        """How many pages reached a person: SMS at Twilio plus page DMs at Slack."""
        dms = [c for c in self.slack_fake.direct_messages(user)
               if "You are paged for" in str(c.params.get("text", ""))]
        return len(self.twilio.messages(phone)) + len(dms)

    def run_for(self, seconds: int) -> None:
        """Let time pass in small steps, acting on whatever falls due, as the scheduler does."""
        for _ in range(seconds // 10):
            self.clock.advance(timedelta(seconds=10))
            self.firebell.tick()

    # talking ---------------------------------------------------------------------------
    def command(self, text: str, *, user: str = "U0BOB", channel: str = "C0GENERAL") -> str:
        response, key = self.slack.command("/incident", text, user=user, channel=channel)
        assert response.status_code == 200, response.text
        return self.slack_fake.wait_for_response(key)[0]

    def webhook(self, path: str, body: dict[str, Any], *, token: str | None = WEBHOOK_TOKEN) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = self.http.post(path, content=json.dumps(body), headers=headers)
        assert response.status_code in (200, 202), response.text
        return response.json()

    def api(self, path: str) -> httpx.Response:
        return self.http.get(path, headers={"Authorization": f"Bearer {API_TOKEN}"})


# payloads in their vendors' shapes ------------------------------------------------------
def alertmanager(status: str, severity: str, *, fingerprint: str = "d1f2a3b4c5e6") -> dict[str, Any]:
    """Alertmanager 0.25's webhook (version 4), one alert."""
    labels = {"alertname": "CheckoutErrors", "service": "checkout", "severity": severity,
              "instance": "checkout-7f9c:9100", "job": "checkout"}
    return {
        "version": "4", "groupKey": '{}/{service="checkout"}:{alertname="CheckoutErrors"}',
        "truncatedAlerts": 0, "status": status, "receiver": "firebell",
        "groupLabels": {"alertname": "CheckoutErrors"}, "commonLabels": labels,
        "commonAnnotations": {"summary": "5xx above 5% on checkout"},
        "externalURL": "http://alertmanager:9093",
        "alerts": [{
            "status": status, "labels": labels,
            "annotations": {"summary": "5xx above 5% on checkout",
                            "runbook_url": "https://runbooks.example/checkout"},
            "startsAt": "2026-11-24T09:26:00Z",
            "endsAt": "2026-11-24T09:40:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph?g0.expr=rate%28http_5xx%5B5m%5D%29",
            "fingerprint": fingerprint,
        }],
    }


def grafana(status: str, severity: str) -> dict[str, Any]:
    """Grafana 10's unified alerting webhook: Alertmanager's shape plus Grafana's fields."""
    body = alertmanager(status, severity, fingerprint="9a8b7c6d5e4f3a2b")
    body |= {"orgId": 1, "title": f"[{status.upper()}:1] CheckoutErrors (checkout)",
             "state": "alerting" if status == "firing" else "ok",
             "message": "**Firing**\n\nValue: B=7.2\nLabels:\n - alertname = CheckoutErrors"}
    body["alerts"][0] |= {
        "dashboardURL": "https://grafana.example/d/checkout?orgId=1",
        "panelURL": "https://grafana.example/d/checkout?orgId=1&viewPanel=2",
        "silenceURL": "https://grafana.example/alerting/silence/new",
        "values": {"B": 7.2}, "valueString": "[ var='B' labels={} value=7.2 ]",
    }
    return body


def pagerduty(action: str, severity: str) -> dict[str, Any]:
    """PagerDuty Events API v2, as pdpyras' `EventsAPISession.trigger` sends it."""
    body: dict[str, Any] = {"routing_key": PD_ROUTING_KEY, "event_action": action,
                            "dedup_key": "checkout-5xx-eu-west-1"}
    if action == "trigger":
        body["payload"] = {
            "summary": "Checkout 5xx above 5%", "source": "checkout-7f9c.eu-west-1",
            "severity": severity, "timestamp": "2026-11-24T09:27:00.000+0000",
            "component": "checkout", "group": "payments", "class": "http",
            "custom_details": {"service": "checkout", "error_rate": 0.072},
        }
        body["links"] = [{"href": "https://grafana.example/d/checkout", "text": "Dashboard"}]
        body["client"] = "Prometheus"
    return body


# entries ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Entry:
    name: str
    start: Callable[[World, bool], int]  # (world, critical?) -> incident id
    resolve_at_source: Callable[[World], None] | None = None
    from_alert: bool = False


def _declared(reply: str) -> int:
    assert reply.startswith("Declared INC-"), reply
    return int(reply.split()[1].removeprefix("INC-"))


def _by_form(w: World, critical: bool) -> int:
    response, key = w.slack.command("/incident", "declare Checkout down", user="U0BOB")
    assert response.status_code == 200
    [opened] = w.slack_fake.wait_for(lambda: w.slack_fake.calls_to("views.open"))
    values = modal_values(title="Checkout down", service="checkout",
                          severity="critical" if critical else "minor")
    assert w.slack.view_submission(opened.params["view"], values, user="U0BOB").status_code == 200
    return _declared(w.slack_fake.wait_for_response(key)[0])


def _by_text(w: World, critical: bool) -> int:
    severity = "critical" if critical else "minor"
    return _declared(w.command(f"declare service=checkout severity={severity} urgency=high "
                               "Checkout down"))


def _drill(w: World, critical: bool) -> int:
    severity = "critical" if critical else "minor"
    return _declared(w.command(f"declare drill service=checkout severity={severity} "
                               "urgency=high Failover practice"))


def _by_report(w: World, critical: bool) -> int:
    severity = "critical" if critical else "minor"
    reply = w.command(f"report service=checkout severity={severity} urgency=high "
                      "Checkout returns 502s")
    assert reply.startswith("Thanks — your report is INC-"), reply
    return int(reply.split("INC-")[1].split()[0])


def _by_alertmanager(w: World, critical: bool) -> int:
    answer = w.webhook("/webhooks/alertmanager",
                       alertmanager("firing", "critical" if critical else "warning"))
    [incident_id] = answer["incidents"]
    return int(incident_id)


def _by_grafana(w: World, critical: bool) -> int:
    answer = w.webhook("/webhooks/alertmanager", grafana("firing", "critical" if critical else "warning"))
    [incident_id] = answer["incidents"]
    return int(incident_id)


def _by_pagerduty(w: World, critical: bool) -> int:
    answer = w.webhook("/v2/enqueue", pagerduty("trigger", "critical" if critical else "warning"),
                       token=None)
    assert answer["status"] == "success"
    return max(w.incident_ids())

ENTRIES = [
    Entry("declare-form", _by_form),
    Entry("declare-text", _by_text),
    Entry("report", _by_report),
    Entry("alertmanager", _by_alertmanager, from_alert=True,
          resolve_at_source=lambda w: w.webhook("/webhooks/alertmanager",
                                                alertmanager("resolved", "critical"))),
    Entry("grafana", _by_grafana, from_alert=True,
          resolve_at_source=lambda w: w.webhook("/webhooks/alertmanager", grafana("resolved", "critical"))),
    Entry("pagerduty", _by_pagerduty, from_alert=True,
          resolve_at_source=lambda w: w.webhook("/v2/enqueue", pagerduty("resolve", "critical"),
                                                token=None)),
    Entry("drill", _drill),
]


# exits -----------------------------------------------------------------------------------
def _alice_paged(w: World, incident_id: int) -> None:
    w.slack_fake.wait_for(lambda: w.reached(ALICE, "U0ALICE") >= 1)
    assert any(p.person == "alice" for p in w.pages(incident_id))


def _nobody_else_paged(w: World, incident_id: int) -> None:
    """Every ack timeout of the policy passes: bob and erin are never called."""
    w.run_for(120)
    assert w.reached(BOB, "U0BOB") == 0 and w.reached(ERIN, "U0ERIN") == 0
    assert not [p for p in w.pages(incident_id) if p.status == PageStatus.QUEUED]


def ack_button(w: World, entry: Entry, incident_id: int) -> None:
    _alice_paged(w, incident_id)
    response, key = w.slack.button("ack", str(incident_id), user="U0ALICE", channel="DU0ALICE")
    assert response.status_code == 200
    assert w.slack_fake.wait_for_response(key) == [f"You acknowledged INC-{incident_id}."]
    assert w.incident(incident_id).acknowledged_by == "alice"
    _nobody_else_paged(w, incident_id)


def ack_command(w: World, entry: Entry, incident_id: int) -> None:
    _alice_paged(w, incident_id)
    assert w.command(f"ack {incident_id}", user="U0ALICE") == f"You acknowledged INC-{incident_id}."
    _nobody_else_paged(w, incident_id)


def ack_sms(w: World, entry: Entry, incident_id: int) -> None:
    _alice_paged(w, incident_id)
    reply = signed_post(f"{w.url}/twilio/sms", {
        "MessageSid": "SM" + "a1" * 16, "AccountSid": ACCOUNT_SID, "From": ALICE,
        "To": FROM_NUMBER, "Body": f"ACK {incident_id}", "NumMedia": "0"})
    assert reply.status_code == 200 and f"Acknowledged INC-{incident_id}" in reply.text
    assert w.incident(incident_id).state == State.ACKNOWLEDGED
    _nobody_else_paged(w, incident_id)


def ack_voice(w: World, entry: Entry, incident_id: int) -> None:
    _alice_paged(w, incident_id)
    reply = signed_post(f"{w.url}/twilio/voice?incident={incident_id}&person=alice", {
        "CallSid": "CA" + "b2" * 16, "AccountSid": ACCOUNT_SID, "From": FROM_NUMBER,
        "To": ALICE, "CallStatus": "in-progress", "Digits": "1", "Direction": "outbound-api"})
    assert reply.status_code == 200 and "<Say>" in reply.text
    assert w.incident(incident_id).state == State.ACKNOWLEDGED
    _nobody_else_paged(w, incident_id)


def severity_raised(w: World, entry: Entry, incident_id: int) -> None:
    """Started as a ticket (P3): raised to critical, it gets a channel and pages as P1."""
    assert w.incident(incident_id).priority == "P3" and w.reached(ALICE, "U0ALICE") == 0
    w.command(f"severity {incident_id} critical", user="U0BOB")
    incident = w.incident(incident_id)
    assert incident.priority == "P1" and incident.channel
    _alice_paged(w, incident_id)
    if entry.name != "drill":
        assert w.twilio.messages(ALICE), "a P1 pages by SMS"
    w.run_for(40)  # nobody acks: the escalation goes on to bob
    assert w.reached(BOB, "U0BOB") >= 1


def alert_raised(w: World, entry: Entry, incident_id: int) -> None:
    """A critical alert for the service joins the P3 within the grouping window and raises it."""
    assert w.incident(incident_id).priority == "P3"
    w.clock.advance(timedelta(minutes=2))
    answer = w.webhook("/webhooks/alertmanager",
                       alertmanager("firing", "critical", fingerprint="ffee00112233"))
    assert answer["incidents"] == [incident_id]
    incident = w.incident(incident_id)
    assert incident.priority == "P1" and incident.channel
    assert "priority_changed" in w.kinds(incident_id)
    _alice_paged(w, incident_id)
    assert w.twilio.messages(ALICE)


def repeat_raised(w: World, entry: Entry, incident_id: int) -> None:
    """PagerDuty events of rising severity share their dedup key: the repeat raises the P3."""
    assert w.incident(incident_id).priority == "P3"
    w.clock.advance(timedelta(minutes=3))
    w.webhook("/v2/enqueue", pagerduty("trigger", "critical"), token=None)
    assert w.incident_ids() == [incident_id]
    incident = w.incident(incident_id)
    assert incident.priority == "P1" and incident.channel
    _alice_paged(w, incident_id)
    assert w.twilio.messages(ALICE)


def resolve_chat(w: World, entry: Entry, incident_id: int) -> None:
    _alice_paged(w, incident_id)
    assert w.command(f"resolve {incident_id}", user="U0ALICE") == f"INC-{incident_id} resolved."
    assert w.incident(incident_id).state == State.RESOLVED
    _nobody_else_paged(w, incident_id)
    assert w.incident(incident_id).state == State.CLOSED  # the recovery watch ran out


def resolve_source(w: World, entry: Entry, incident_id: int) -> None:
    """PagerDuty's semantics: resolved at the source before anyone acked, paging stops."""
    _alice_paged(w, incident_id)
    assert entry.resolve_at_source is not None
    entry.resolve_at_source(w)
    assert w.incident(incident_id).state == State.RESOLVED
    assert "alert_resolved" in w.kinds(incident_id)
    _nobody_else_paged(w, incident_id)


def resolve_ticket(w: World, entry: Entry, incident_id: int) -> None:
    _alice_paged(w, incident_id)
    ticket = w.incident(incident_id).ticket
    assert ticket and ticket.startswith(f"{REPO}#"), ticket
    issue = w.github.issues[int(ticket.rpartition("#")[2])]
    assert f"INC-{incident_id}" in issue["title"]
    answer = w.github.close_issue(int(ticket.rpartition("#")[2]), firebell_url=w.url)
    assert answer.status_code == 200 and answer.json()["status"] == "resolved", answer.text
    assert w.incident(incident_id).state == State.RESOLVED
    _nobody_else_paged(w, incident_id)


def postmortem(w: World, entry: Entry, incident_id: int) -> None:
    _alice_paged(w, incident_id)
    w.command(f"ack {incident_id}", user="U0ALICE")
    w.command(f"resolve {incident_id}", user="U0ALICE")
    answer = w.api(f"/api/v1/incidents/{incident_id}/postmortem")
    assert answer.status_code == 200, answer.text
    text = answer.text
    assert f"INC-{incident_id}" in text and "Timeline" in text
    assert "None" not in text.split("Timeline")[0], "a field of the summary reads None"
    if entry.from_alert:  # the alert said when impact began: TTD is measured
        line = next(ln for ln in text.splitlines() if "Time to detect" in ln)
        assert line.split("|")[2].strip() in ("4m", "3m"), line  # startsAt 09:26 / 09:27
        assert "by an alert from" in text
    reply = w.command(f"postmortem {incident_id}", user="U0ALICE")
    assert "Something went wrong" not in reply, reply


def reports(w: World, entry: Entry, incident_id: int) -> None:
    _alice_paged(w, incident_id)
    w.command(f"ack {incident_id}", user="U0ALICE")
    answer = w.api("/api/v1/reports/paging?since=2026-11-24T00:00:00Z&until=2026-11-25T00:00:00Z")
    assert answer.status_code == 200, answer.text
    people = {row["person"]: row for row in answer.json()["people"]}
    counted = people.get("alice", {}).get("pages", 0)
    assert counted == (0 if entry.name == "drill" else 1), people  # drills are practice
    metrics = w.http.get("/metrics")
    assert metrics.status_code == 200
    assert 'firebell_open_incidents{priority="P1",state="acknowledged"} 1.0' in metrics.text
    listed = w.api("/api/v1/incidents").json()["incidents"]
    assert [i["id"] for i in listed] == [incident_id]


@dataclass(frozen=True)
class Exit:
    name: str
    run: Callable[[World, Entry, int], None]
    critical: bool = True  # the entry starts a P1 (False: a P3 ticket)
    applies: Callable[[Entry], bool] = lambda entry: True


EXITS = [
    Exit("ack-button", ack_button),
    Exit("ack-command", ack_command),
    Exit("ack-sms", ack_sms, applies=lambda e: e.name != "drill"),  # a drill pages by chat only
    Exit("ack-voice", ack_voice, applies=lambda e: e.name != "drill"),
    Exit("severity-raised", severity_raised, critical=False),
    Exit("alert-raised", alert_raised, critical=False,
         applies=lambda e: e.from_alert or e.name == "report"),
    Exit("repeat-raised", repeat_raised, critical=False, applies=lambda e: e.name == "pagerduty"),
    Exit("resolve-chat", resolve_chat),
    Exit("resolve-source", resolve_source, applies=lambda e: e.resolve_at_source is not None),
    Exit("resolve-ticket", resolve_ticket),
    Exit("postmortem", postmortem),
    Exit("reports", reports),
]

CELLS = [pytest.param(entry, exit_, id=f"{entry.name}->{exit_.name}")
         for entry in ENTRIES for exit_ in EXITS if exit_.applies(entry)]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    yield w
    w.close()


@pytest.mark.parametrize(("entry", "exit_"), CELLS)
def test_path(world: World, entry: Entry, exit_: Exit) -> None:
    incident_id = entry.start(world, exit_.critical)
    incident = world.incident(incident_id)
    assert incident.priority == ("P1" if exit_.critical else "P3"), incident
    assert incident.drill == (entry.name == "drill")
    exit_.run(world, entry, incident_id)
