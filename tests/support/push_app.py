"""Firebell with push pages on: the real `PushPager` against a fake ntfy and a fake Pushover, Slack
(a fake Web API) as the chat, served over real HTTP at its PUBLIC_URL so that the ntfy app's
action button and Pushover's callback reach the real `/push/ack/...` route."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

from adapters.push_pager import Tries
from app import Firebell, Settings, build
from bot.server import build_http_app
from tests.support.ntfy_fake import FakeNtfy
from tests.support.pushover_fake import APP_TOKEN, FakePushover
from tests.support.slack_fake import FakeSlack
from tests.support.slack_helpers import BOT_TOKEN, SIGNING_SECRET, ThreadedServer, free_port
from workflows.clock import FakeClock
from workflows.deadlines import run_due
from workflows.dispatch import inline
from workflows.incident.declare import DeclareRequest, declare
from workflows.model import Page, PageStatus, State

ALICE_TOPIC = "firebell-alice-7d1e0c3b9a"
BOB_KEY = "uQiRzpo4DXghDmr9QzzfQu27cmVRsG"
CALLBACK_SECRET = "test-callback-secret-0123456789abcdef"

CATALOG = textwrap.dedent(f"""\
    timezone: UTC
    people:
      - {{id: alice, name: Alice Doe, slack: U0ALICE, ntfy_topic: {ALICE_TOPIC}}}
      - {{id: bob, name: Bob Brandt, slack: U0BOB, pushover_user: {BOB_KEY}}}
      - {{id: erin, name: Erin Engel, slack: U0ERIN}}
    teams:
      - {{id: payments, name: Payments, slack_channel: C0PAYMENTS, escalation_policy: payments}}
      - {{id: payroll, name: Payroll, slack_channel: C0PAYROLL, escalation_policy: payroll}}
    services:
      - {{id: checkout, name: Checkout API, team: payments, match: {{service: checkout}}}}
      - {{id: salaries, name: Salaries, team: payroll, match: {{service: salaries}}}}
    schedules:
      - id: primary
        team: payments
        rotation: {{every: 1d, handoff: "09:00", start: "2026-01-05", members: [alice]}}
    escalation_policies:
      - id: payments
        steps:
          - {{notify: ["schedule:primary"], ack_timeout: 5m}}
          - {{notify: ["person:bob"], ack_timeout: 5m}}
          - {{notify: ["person:erin"], ack_timeout: 5m}}
      - id: payroll
        steps:
          - {{notify: ["person:bob"], ack_timeout: 5m}}
    priorities:
      matrix:
        critical: {{high: P1, low: P2}}
        major: {{high: P2, low: P3}}
        minor: {{high: P3, low: P4}}
      response:
        P1: {{page: true, ack_within: 5m, channels: [push, chat], update_every: 15m}}
        P2: {{page: true, ack_within: 15m, channels: [push], update_every: 20m}}
        P3: {{page: false, ack_within: 8h business, channels: [chat]}}
        P4: {{page: false, ack_within: 5d business, channels: [ticket]}}
""")


class PushApp:
    """Firebell with ntfy and Pushover on, its effects performed inline (the test reads the fakes
    right after a call), time on a fake clock."""

    def __init__(self, tmp_path: Path, database_url: str, *, ntfy: FakeNtfy,
                 pushover: FakePushover, ntfy_token: str | None = None) -> None:
        catalog = tmp_path / "catalog.yaml"
        catalog.write_text(CATALOG)
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.slack = FakeSlack().start()
        self.settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            firebell_config=str(catalog), database_url=database_url,
            slack_bot_token=BOT_TOKEN, slack_signing_secret=SIGNING_SECRET,
            slack_api_url=self.slack.api_url, public_url=self.url,
            ntfy_url=ntfy.url, ntfy_token=ntfy_token, pushover_app_token=APP_TOKEN,
            pushover_api_url=pushover.url, firebell_callback_secret=CALLBACK_SECRET,
        )
        self.clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
        self.firebell: Firebell = build(self.settings, clock=self.clock)
        self.firebell.ctx.dispatch = inline
        self.firebell.ctx.pagers["push"]._tries = Tries(attempts=3, backoff=0.01)  # type: ignore[attr-defined]
        self.server = ThreadedServer(build_http_app(self.firebell), port=port).start()
        self.ntfy, self.pushover = ntfy, pushover

    def close(self) -> None:
        self.server.stop()
        self.slack.stop()
        self.firebell.store.dispose()

    def declare(self, *, severity: str = "major", service: str = "checkout") -> int:
        incident = declare(self.firebell.ctx, DeclareRequest(
            title="Checkout is down", service=service, severity=severity, urgency="high"))
        assert incident.id is not None
        return incident.id

    def advance(self, **delta: float) -> None:
        """Time passes; whatever fell due runs, as the scheduler would."""
        self.clock.advance(timedelta(**delta))
        run_due(self.firebell.ctx)

    def state(self, incident_id: int) -> State:
        with self.firebell.store.transaction() as tx:
            return tx.get_incident(incident_id).state

    def pages(self, incident_id: int) -> list[Page]:
        with self.firebell.store.transaction() as tx:
            return list(tx.pages(incident_id))

    def summary(self, incident_id: int) -> list[tuple[str, str, PageStatus]]:
        return [(p.person, p.channel, p.status) for p in self.pages(incident_id)]

    def kinds(self, incident_id: int) -> list[str]:
        with self.firebell.store.transaction() as tx:
            return [e.kind for e in tx.events(incident_id)]
