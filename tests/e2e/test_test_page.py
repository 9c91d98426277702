"""`firebell test-page` as an operator runs it: the real command in a subprocess, paging through
the real Telegram and Twilio pagers (against their loopback fakes), while `firebell serve` (the
harness's HTTP app, on the same database) receives the acknowledgement."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import run_firebell
from tests.support.telegram_app import ALICE_CHAT, BOB_CHAT, BOB_PHONE, TelegramApp
from tests.support.telegram_fake import BOT_TOKEN, WEBHOOK_SECRET, FakeTelegram
from tests.support.twilio_fake import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, FakeTwilio
from workflows.model import PageStatus, State
from workflows.paging.report import paging_report


@pytest.fixture
def world(tmp_path: Path, database_url: str) -> Iterator[TelegramApp]:
    with FakeTelegram() as telegram, FakeTwilio() as twilio:
        world = TelegramApp(tmp_path, database_url, telegram, twilio)
        yield world
        world.close()


def _env(world: TelegramApp) -> dict[str, str]:
    s = world.settings
    return {"FIREBELL_CONFIG": s.firebell_config, "DATABASE_URL": s.database_url,
            "TELEGRAM_BOT_TOKEN": BOT_TOKEN, "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "TELEGRAM_API_URL": s.telegram_api_url, "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_FROM_NUMBER": FROM_NUMBER,
            "TWILIO_API_URL": s.twilio_api_url, "PUBLIC_URL": world.url, "LOG_LEVEL": "WARNING"}


def _incidents(world: TelegramApp) -> list[tuple[int, State, bool]]:
    with world.firebell.store.transaction() as tx:
        return [(i.id or 0, i.state, i.drill) for i in tx.list_incidents(open_only=False)]


def test_each_channel_is_reported_on_its_own_line(world: TelegramApp, tmp_path: Path) -> None:
    result = run_firebell("test-page", "@bob", cwd=tmp_path, env=_env(world))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Test page INC-") and "Bob Brandt (bob): marked TEST, not an " \
        "incident; nobody else is paged and nothing escalates." in lines[0]
    assert [line.split()[0] for line in lines[1:5]] == ["chat", "sms", "voice", "telegram"]
    assert lines[1] == "  chat      not configured: bob has no slack or teams in the catalog"
    assert lines[2] == "  sms       sent: to acknowledge: reply 1"
    assert lines[3] == "  voice     sent: to acknowledge: press 1 during the call"
    assert lines[4] == "  telegram  sent: to acknowledge: press Acknowledge"
    assert "Not waiting for acknowledgements" in lines[5]
    # Through the real pagers, marked TEST; nobody else reached.
    [message] = world.telegram.messages(BOB_CHAT)
    assert message.text.startswith("<b>[TEST] Firebell test page for Bob Brandt</b>")
    assert "nothing is wrong and nobody else is paged" in message.text
    [sms] = world.twilio.messages(BOB_PHONE)
    assert "[TEST]" in sms.body and len(world.twilio.calls(BOB_PHONE)) == 1
    assert world.telegram.messages(ALICE_CHAT) == []
    # Not an incident: closed when the command ended, no escalation, not in the paging report.
    [(incident_id, state, drill)] = _incidents(world)
    assert state == State.CLOSED and drill
    assert world.escalations_pending(incident_id) == 0
    with world.firebell.store.transaction() as tx:
        pages, facts = tx.pages(incident_id), tx.ack_facts([incident_id])
    assert len(pages) == 3
    assert paging_report(world.firebell.ctx.catalog, pages=pages, incidents=facts) == []


def test_a_failed_channel_says_why_and_nothing_falls_over(
    world: TelegramApp, tmp_path: Path
) -> None:
    world.telegram.blocked.add(BOB_CHAT)
    result = run_firebell("test-page", "bob", "telegram", cwd=tmp_path, env=_env(world))
    assert result.returncode == 1
    assert result.stdout.splitlines()[1] == ("  telegram  failed: Telegram sendMessage answered "
                                             "403: Forbidden: bot was blocked by the user")
    assert world.twilio.messages(BOB_PHONE) == [] and world.twilio.calls(BOB_PHONE) == []


def test_an_unknown_person_is_one_clear_error(world: TelegramApp, tmp_path: Path) -> None:
    result = run_firebell("test-page", "@nobody", cwd=tmp_path, env=_env(world))
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.strip().startswith("firebell: error: unknown person 'nobody' (known: ")
    assert _incidents(world) == [] and world.telegram.sent == []


def test_the_button_acknowledges_the_test_and_the_command_reports_it(
    world: TelegramApp, tmp_path: Path
) -> None:
    firebell = Path(sys.executable).parent / "firebell"
    command = [str(firebell)] if firebell.exists() else [sys.executable, "app.py"]
    process = subprocess.Popen(
        [*command, "test-page", "@bob", "--wait", "30"], cwd=tmp_path, text=True,
        env={**os.environ, **_env(world)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not world.telegram.messages(BOB_CHAT) and time.monotonic() < deadline:
            time.sleep(0.1)
        [message] = world.telegram.messages(BOB_CHAT)
        pressed = world.telegram.press(world.webhook, message, user_id=BOB_CHAT)
        assert pressed.status_code == 200
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert world.telegram.answers[-1]["text"].startswith("Test page acknowledged by Telegram")
    lines = out.splitlines()
    assert "Waiting up to 30 s for Bob Brandt to acknowledge (sms, voice, telegram) ..." in lines
    tail = lines[lines.index("Waiting up to 30 s for Bob Brandt to acknowledge (sms, voice, "
                             "telegram) ...") + 1:]
    assert tail == ["  sms       not acknowledged within 30 s",
                    "  voice     not acknowledged within 30 s",
                    "  telegram  acknowledged"], (out, err)
    # Only the telegram page is acknowledged; the test never became an acknowledged incident.
    [(incident_id, state, _)] = _incidents(world)
    assert state == State.CLOSED
    assert sorted(world.pages(incident_id)) == [("bob", "sms", PageStatus.SENT),
                                                ("bob", "telegram", PageStatus.ACKNOWLEDGED),
                                                ("bob", "voice", PageStatus.SENT)]
