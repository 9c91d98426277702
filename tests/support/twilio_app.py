"""Firebell built with Twilio on (against the fake Twilio), served over real HTTP: the harness of
the Twilio end-to-end tests and the hostile-input tests."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path

from app import Firebell, Settings, build
from bot.server import build_http_app
from tests.support.slack_helpers import ThreadedServer, free_port
from tests.support.twilio_fake import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, FakeTwilio
from workflows.clock import FakeClock
from workflows.dispatch import inline
from workflows.incident.declare import DeclareRequest, declare
from workflows.model import PageStatus, State

ALICE, BOB, ERIN = "+15550100001", "+15550100002", "+15550100005"

CATALOG = textwrap.dedent("""\
    timezone: UTC
    people:
      - {id: alice, name: Alice Doe, phone: "+15550100001", slack: U0ALICE}
      - {id: bob, name: Bob Brandt, phone: "+1 555 010 0002", slack: U0BOB,
         notify: [{channel: sms}, {channel: voice, after: 5m}]}
      - {id: erin, name: Erin Engel, phone: "+15550100005", slack: U0ERIN}
    teams:
      - {id: payments, name: Payments, slack_channel: C0PAYMENTS, escalation_policy: payments}
    services:
      - {id: checkout, name: Checkout API, team: payments, match: {service: checkout}}
    schedules:
      - id: primary
        team: payments
        rotation: {every: 1d, handoff: "09:00", start: "2026-01-05", members: [alice]}
      - id: secondary
        team: payments
        rotation: {every: 1d, handoff: "09:00", start: "2026-01-05", members: [bob]}
    escalation_policies:
      - id: payments
        steps:
          - {notify: ["schedule:primary"], ack_timeout: 5m}
          - {notify: ["schedule:secondary"], ack_timeout: 5m}
          - {notify: ["person:erin"], ack_timeout: 5m}
    priorities:
      matrix:
        critical: {high: P1, low: P2}
        major: {high: P2, low: P3}
        minor: {high: P3, low: P4}
      response:
        P1: {page: true, ack_within: 5m, channels: [voice, sms], update_every: 15m, monitor_for: 1h}
        P2: {page: true, ack_within: 15m, channels: [sms], update_every: 20m, monitor_for: 30m}
        P3: {page: false, ack_within: 8h business, channels: [chat]}
        P4: {page: false, ack_within: 5d business, channels: [ticket]}
""")


class TwilioApp:
    """Firebell with Twilio on, served over HTTP at its PUBLIC_URL, with the console as chat."""

    def __init__(self, tmp_path: Path, database_url: str, twilio: FakeTwilio) -> None:
        catalog = tmp_path / "catalog.yaml"
        catalog.write_text(CATALOG)
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            firebell_config=str(catalog), database_url=database_url,
            twilio_account_sid=ACCOUNT_SID, twilio_auth_token=AUTH_TOKEN,
            twilio_from_number=FROM_NUMBER, twilio_api_url=twilio.api_url,
            twilio_extra_numbers="+15550109998, +1 555 010 9999", public_url=self.url,
        )
        self.clock = FakeClock(datetime.now(UTC))
        self.firebell: Firebell = build(self.settings, clock=self.clock)
        # Effects are performed by the committing thread: the test reads Twilio right after.
        self.firebell.ctx.dispatch = inline
        pager = self.firebell.ctx.pagers["sms"]
        pager._backoff, pager._max_backoff = 0.01, 0.05  # type: ignore[attr-defined]
        self.server = ThreadedServer(build_http_app(self.firebell), port=port).start()
        self.twilio = twilio

    def close(self) -> None:
        self.server.stop()
        self.firebell.store.dispose()

    def declare(self, severity: str = "critical") -> int:
        incident = declare(self.firebell.ctx, DeclareRequest(
            title="Checkout is down", service="checkout", severity=severity, urgency="high"))
        assert incident.id is not None
        return incident.id

    def state(self, incident_id: int) -> State:
        with self.firebell.store.transaction() as tx:
            return tx.get_incident(incident_id).state

    def pages(self, incident_id: int) -> list[tuple[str, str, PageStatus]]:
        with self.firebell.store.transaction() as tx:
            return [(p.person, p.channel, p.status) for p in tx.pages(incident_id)]

    def kinds(self, incident_id: int) -> list[str]:
        with self.firebell.store.transaction() as tx:
            return [e.kind for e in tx.events(incident_id)]
