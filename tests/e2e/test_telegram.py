"""Telegram paging end to end: Firebell built with Telegram (and Twilio, for failover) on against
loopback fakes of both, its HTTP app served for real; the button press comes to
`POST /telegram/webhook` the way Telegram delivers it."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.telegram import NOT_RECORDED
from storage.db import upgrade
from tests.support.telegram_app import (
    ALICE_CHAT,
    BOB_CHAT,
    BOB_PHONE,
    STRANGER,
    TelegramApp,
)
from tests.support.telegram_fake import WEBHOOK_SECRET, Failure, FakeTelegram
from tests.support.twilio_fake import FakeTwilio
from workflows.model import PageStatus, State


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


def test_a_locked_database_tells_the_presser_and_the_press_is_recorded_once_it_lets_go(
    tmp_path: Path,
) -> None:
    # Another writer holds the SQLite file: the press is answered within Telegram's patience,
    # the person is told it may not be recorded, Telegram is asked to deliver it again (503);
    # the acknowledgement still waiting goes through when the lock is gone.
    path = tmp_path / "firebell.db"
    upgrade(f"sqlite:///{path}")
    with FakeTelegram() as telegram, FakeTwilio() as twilio:
        world = TelegramApp(tmp_path, f"sqlite:///{path}", telegram, twilio)
        try:
            incident_id = world.declare_p2()
            [message] = telegram.messages(ALICE_CHAT)
            holder = sqlite3.connect(path, isolation_level=None)
            holder.execute("BEGIN EXCLUSIVE")
            try:
                began = time.monotonic()
                answer = telegram.press(world.webhook, message, user_id=ALICE_CHAT)
                took = time.monotonic() - began
            finally:
                holder.execute("ROLLBACK")
                holder.close()
            assert answer.status_code == 503 and took < 12
            assert [told["text"] for told in telegram.answers] == [NOT_RECORDED]
            deadline = time.monotonic() + 30
            while world.state(incident_id) != State.ACKNOWLEDGED:
                assert time.monotonic() < deadline, "the waiting acknowledgement was lost"
                time.sleep(0.1)
            again = telegram.press(world.webhook, message, user_id=ALICE_CHAT)  # the redelivery
            assert again.status_code == 200
            assert world.escalations_pending(incident_id) == 0
        finally:
            world.close()
