"""`serve` with a way of reaching people switched off: it says so at start-up, naming the missing
settings, and a page nothing can deliver is recorded as failed with the reason, never as sent."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app import Settings, build, delivery_warnings
from tests.support.paths import DEMO_CATALOG, ROOT
from tests.support.slack_helpers import free_port
from workflows.clock import FakeClock
from workflows.dispatch import inline
from workflows.incident.declare import DeclareRequest, declare
from workflows.model import PageStatus

TWILIO = {"twilio_account_sid": "AC0", "twilio_auth_token": "secret",
          "twilio_from_number": "+15550109999"}


def _settings(**values: str) -> Settings:
    return Settings(_env_file=None, firebell_config=str(DEMO_CATALOG), **values)  # type: ignore[call-arg]


def test_start_up_warnings_name_what_is_missing() -> None:
    (nothing,) = delivery_warnings(_settings())
    assert nothing.startswith("NOBODY CAN BE PAGED")
    assert "SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET unset" in nothing
    assert "TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_FROM_NUMBER unset" in nothing
    (no_chat,) = delivery_warnings(_settings(slack_bot_token="xoxb-1", **TWILIO))
    assert no_chat.startswith("no chat (SLACK_SIGNING_SECRET unset)")
    (no_pager,) = delivery_warnings(_settings(slack_bot_token="xoxb-1",
                                              slack_signing_secret="s", twilio_auth_token="t"))
    assert no_pager.startswith("no pager (TWILIO_ACCOUNT_SID, TWILIO_FROM_NUMBER unset)")
    assert "pages go by Slack chat only" in no_pager
    teams = {"teams_app_id": "app", "teams_app_password": "pw", "teams_tenant_id": "t"}
    (mixed,) = delivery_warnings(_settings(slack_bot_token="xoxb-1", slack_signing_secret="s",
                                           **teams))
    assert "pages go by Slack and Teams chat only" in mixed
    assert delivery_warnings(_settings(slack_bot_token="xoxb-1", slack_app_token="xapp-1",
                                       **TWILIO)) == []


def test_without_chat_or_pager_a_page_fails_with_the_reason(database_url: str) -> None:
    firebell = build(_settings(database_url=database_url),
                     clock=FakeClock(datetime(2026, 11, 24, 8, 30, tzinfo=UTC)))
    firebell.ctx.dispatch = inline  # effects are performed by the committing thread
    try:
        incident = declare(firebell.ctx, DeclareRequest(
            title="Checkout down", service="checkout", severity="critical", urgency="high"))
        assert incident.id is not None
        with firebell.store.transaction() as tx:
            pages = tx.pages(incident.id)
            events = tx.events(incident.id)
    finally:
        firebell.store.dispose()
    assert pages and {(p.channel, p.status) for p in pages} == {("chat", PageStatus.FAILED)}
    assert pages[0].error == "not delivered: no chat: SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET unset"
    failed = [e.text for e in events if e.kind == "page_failed"]
    assert failed and "SLACK_BOT_TOKEN" in failed[0]


@pytest.mark.slow
def test_serve_warns_at_start_up_when_nobody_can_be_paged(tmp_path: Path) -> None:
    port = free_port()
    environment = {**os.environ, "FIREBELL_CONFIG": str(DEMO_CATALOG), "PORT": str(port),
                   "DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}", "PYTHONIOENCODING": "utf-8"}
    for name in list(environment):
        if name.startswith(("SLACK_", "TWILIO_")):
            del environment[name]
    server = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "serve"], cwd=tmp_path,
                              env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, encoding="utf-8")
    lines: list[str] = []
    assert server.stdout is not None
    reader = threading.Thread(target=lambda: lines.extend(server.stdout or []), daemon=True)
    reader.start()
    try:
        give_up = time.monotonic() + 60
        while not any("NOBODY CAN BE PAGED" in line for line in list(lines)):
            if server.poll() is not None or time.monotonic() > give_up:
                break
            time.sleep(0.1)
    finally:
        server.terminate()
        server.wait(timeout=30)
        reader.join(timeout=10)
    output = "".join(lines)
    assert "WARNING" in output and "NOBODY CAN BE PAGED" in output, output[-2000:]
    assert "SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET unset" in output
    assert "TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_FROM_NUMBER unset" in output
