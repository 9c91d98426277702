"""Telegram paging end to end: Firebell built with Telegram (and Twilio, for failover) on against
loopback fakes of both, its HTTP app served for real; the button press comes to
`POST /telegram/webhook` the way Telegram delivers it."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from app import Firebell, Settings, build
from bot.server import build_http_app
from tests.support.slack_helpers import ThreadedServer, free_port
from tests.support.telegram_fake import BOT_TOKEN, WEBHOOK_SECRET, Failure, FakeTelegram
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


@pytest.fixture
def world(tmp_path: Path, database_url: str) -> Iterator[TelegramApp]:
    with FakeTelegram() as telegram, FakeTwilio() as twilio:
        world = TelegramApp(tmp_path, database_url, telegram, twilio)
        yield world
        world.close()


def test_a_p2_pages_by_telegram_with_an_acknowledge_button(world: TelegramApp) -> None:
    incident_id = world.declare_p2(title="Checkout <down> & <b>slow</b>")
    [message] = world.telegram.messages(ALICE_CHAT)
    assert message.parse_mode == "HTML"
    # Escaped for HTML mode (the fake refuses stray tags, as Telegram does); the title in bold.
    head, body = message.text.split("\n", 1)
    title = "Checkout &lt;down&gt; &amp; &lt;b&gt;slow&lt;/b&gt;"
    assert head == f"<b>Paged: INC-{incident_id} (P2) {title}</b>"
    assert body.startswith(f"You are paged for INC-{incident_id} (P2): {title}\n")
    page_id = world.page_ids(incident_id)[("alice", "telegram")]
    assert message.reply_markup == {"inline_keyboard": [[
        {"text": "Acknowledge", "callback_data": f"ack:{page_id}"}]]}
    assert world.refs(incident_id) == {"alice": f"{ALICE_CHAT}:{message.message_id}"}
    assert world.pages(incident_id) == [("alice", "telegram", PageStatus.SENT)]


def test_the_button_acknowledges_and_the_escalation_stops(world: TelegramApp) -> None:
    incident_id = world.declare_p2()
    [message] = world.telegram.messages(ALICE_CHAT)
    answer = world.telegram.press(world.webhook, message, user_id=ALICE_CHAT)
    assert answer.status_code == 200
    assert world.state(incident_id) == State.ACKNOWLEDGED
    [told] = world.telegram.answers
    assert told["text"].startswith(f"Acknowledged INC-{incident_id}")
    assert world.escalations_pending(incident_id) == 0
    # No stale button: the page now says who acknowledged it, without its keyboard.
    assert message.reply_markup is None and "Acknowledged by Alice Doe" in message.text
    world.later(minutes=10)  # past step 1's timeout: nobody else is paged
    assert world.telegram.messages(BOB_CHAT) == [] and world.twilio.messages(BOB_PHONE) == []
    assert world.pages(incident_id) == [("alice", "telegram", PageStatus.ACKNOWLEDGED)]

    again = world.telegram.press(world.webhook, message, user_id=ALICE_CHAT,
                                 data=f"ack:{world.page_ids(incident_id)[('alice', 'telegram')]}")
    assert again.status_code == 200
    assert world.telegram.answers[-1]["text"].startswith("Not acknowledged: ")


@pytest.mark.parametrize("secret", [None, "", "not-the-secret", WEBHOOK_SECRET + "x"])
def test_a_wrong_or_missing_secret_is_refused_and_changes_nothing(
    world: TelegramApp, secret: str | None
) -> None:
    incident_id = world.declare_p2()
    [message] = world.telegram.messages(ALICE_CHAT)
    answer = world.telegram.press(world.webhook, message, user_id=ALICE_CHAT, secret=secret)
    assert answer.status_code == 403
    assert world.state(incident_id) == State.TRIGGERED
    assert world.telegram.answers == [] and message.reply_markup is not None
    assert world.escalations_pending(incident_id) == 1
    world.later(minutes=6)  # the escalation goes on: bob is paged
    assert len(world.telegram.messages(BOB_CHAT)) == 1


def test_only_the_person_paged_can_acknowledge(world: TelegramApp) -> None:
    incident_id = world.declare_p2()
    [message] = world.telegram.messages(ALICE_CHAT)
    world.telegram.press(world.webhook, message, user_id=BOB_CHAT)  # a forwarded button
    world.telegram.press(world.webhook, message, user_id=STRANGER)
    world.telegram.press(world.webhook, message, user_id=ALICE_CHAT, data="ack:999999")
    bob, stranger, unknown = (a["text"] for a in world.telegram.answers)
    assert bob == "Not acknowledged: this page is for Alice Doe: you cannot acknowledge it"
    assert "does not know your Telegram account" in stranger
    assert unknown == "Not acknowledged: this page is not known to Firebell"
    assert world.state(incident_id) == State.TRIGGERED


def test_other_updates_are_answered_and_ignored(world: TelegramApp) -> None:
    incident_id = world.declare_p2()
    for update in ({"update_id": 1, "message": {"message_id": 5, "text": "/start",
                                                "chat": {"id": ALICE_CHAT, "type": "private"}}},
                   {"update_id": 2, "callback_query": {"id": "9", "data": "ack:1"}},  # no from
                   {"update_id": 3}, []):
        answer = world.telegram.deliver(world.webhook, update)  # type: ignore[arg-type]
        assert answer.status_code == 200, update
    garbage = httpx.post(world.webhook, content=b"\xff not json", timeout=10, headers={
        "X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET})
    assert garbage.status_code == 400
    assert world.state(incident_id) == State.TRIGGERED and world.telegram.answers == []


def test_a_blocked_bot_fails_over_to_the_next_channel_at_once(world: TelegramApp) -> None:
    # Bob's own rule: telegram now, SMS after 5 minutes. He blocked the bot: he gets the SMS now.
    world.telegram.blocked.add(BOB_CHAT)
    incident_id = world.declare_p2()
    world.later(minutes=6)  # alice did not acknowledge: step 2 pages bob
    assert len(world.twilio.messages(BOB_PHONE)) == 1
    pages = world.pages(incident_id)
    assert ("bob", "telegram", PageStatus.FAILED) in pages
    assert ("bob", "sms", PageStatus.SENT) in pages
    with world.firebell.store.transaction() as tx:
        failed = [p for p in tx.pages(incident_id) if p.status == PageStatus.FAILED]
        kinds = [e.kind for e in tx.events(incident_id)]
    assert failed[0].error == "Telegram sendMessage answered 403: Forbidden: bot was blocked " \
                              "by the user"
    assert "page_failover" in kinds


def test_throttling_is_waited_out_and_the_page_goes_once(world: TelegramApp) -> None:
    world.telegram.failures.append(Failure(429, "Too Many Requests: retry after 1",
                                           method="sendMessage", retry_after=1))
    incident_id = world.declare_p2()
    assert len(world.telegram.messages(ALICE_CHAT)) == 1
    assert [m for m, _ in world.telegram.calls].count("sendMessage") == 2
    assert world.pages(incident_id) == [("alice", "telegram", PageStatus.SENT)]
