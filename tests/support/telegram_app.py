"""Firebell built with Telegram and Twilio on (against their loopback fakes), served over real
HTTP at its PUBLIC_URL: the harness of the Telegram and test-page end-to-end tests."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

from app import Firebell, Settings, build
from bot.server import build_http_app
from tests.support.slack_helpers import ThreadedServer, free_port
from tests.support.telegram_fake import BOT_TOKEN, WEBHOOK_SECRET, FakeTelegram
from tests.support.twilio_fake import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, FakeTwilio
from workflows.clock import FakeClock
from workflows.deadlines import run_due
from workflows.dispatch import inline
from workflows.incident.declare import DeclareRequest, declare
from workflows.model import DeadlineKind, PageStatus, State

ALICE_CHAT, BOB_CHAT, STRANGER = 1001, 1002, 4242
BOB_PHONE = "+15550100002"

CATALOG = textwrap.dedent("""\
    timezone: UTC
    people:
      - {id: alice, name: Alice Doe, telegram_chat_id: 1001}
      - {id: bob, name: Bob Brandt, phone: "+15550100002", telegram_chat_id: 1002,
         notify: [{channel: telegram}, {channel: sms, after: 5m}]}
      - {id: erin, name: Erin Engel, phone: "+15550100005"}
    teams:
      - {id: payments, name: Payments, escalation_policy: payments}
    services:
      - {id: checkout, name: Checkout API, team: payments}
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
    priorities:
      matrix:
        critical: {high: P1, low: P2}
        major: {high: P2, low: P3}
        minor: {high: P3, low: P4}
      response:
        P1: {page: true, ack_within: 5m, channels: [voice, sms]}
        P2: {page: true, ack_within: 15m, channels: [telegram]}
        P3: {page: false, ack_within: 8h business, channels: [chat]}
        P4: {page: false, ack_within: 5d business, channels: [ticket]}
""")


class TelegramApp:
    """Firebell with Telegram and Twilio on, served over HTTP; effects performed inline."""

    def __init__(self, tmp_path: Path, database_url: str, telegram: FakeTelegram,
                 twilio: FakeTwilio) -> None:
        catalog = tmp_path / "catalog.yaml"
        catalog.write_text(CATALOG)
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.webhook = f"{self.url}/telegram/webhook"
        self.settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            firebell_config=str(catalog), database_url=database_url, public_url=self.url,
            telegram_bot_token=BOT_TOKEN, telegram_webhook_secret=WEBHOOK_SECRET,
            telegram_api_url=telegram.api_url,
            twilio_account_sid=ACCOUNT_SID, twilio_auth_token=AUTH_TOKEN,
            twilio_from_number=FROM_NUMBER, twilio_api_url=twilio.api_url,
        )
        self.clock = FakeClock(datetime.now(UTC))
        self.firebell: Firebell = build(self.settings, clock=self.clock)
        self.firebell.ctx.dispatch = inline  # the test reads the fakes right after
        self.server = ThreadedServer(build_http_app(self.firebell), port=port).start()
        self.telegram, self.twilio = telegram, twilio

    def close(self) -> None:
        self.server.stop()
        self.firebell.store.dispose()

    def declare_p2(self, title: str = "Checkout is down") -> int:
        incident = declare(self.firebell.ctx, DeclareRequest(
            title=title, service="checkout", severity="critical", urgency="low"))
        assert incident.id is not None and incident.priority == "P2"
        return incident.id

    def state(self, incident_id: int) -> State:
        with self.firebell.store.transaction() as tx:
            return tx.get_incident(incident_id).state

    def pages(self, incident_id: int) -> list[tuple[str, str, PageStatus]]:
        with self.firebell.store.transaction() as tx:
            return [(p.person, p.channel, p.status) for p in tx.pages(incident_id)]

    def page_ids(self, incident_id: int) -> dict[tuple[str, str], int]:
        with self.firebell.store.transaction() as tx:
            return {(p.person, p.channel): p.id or 0 for p in tx.pages(incident_id)}

    def refs(self, incident_id: int) -> dict[str, str | None]:
        with self.firebell.store.transaction() as tx:
            return {p.person: p.ref for p in tx.pages(incident_id)}

    def escalations_pending(self, incident_id: int) -> int:
        with self.firebell.store.transaction() as tx:
            return sum(1 for d in tx.pending_deadlines(incident_id)
                       if d.kind == DeadlineKind.ESCALATE)

    def later(self, minutes: int) -> None:
        self.clock.advance(timedelta(minutes=minutes))
        run_due(self.firebell.ctx)
