"""`firebell serve` killed with SIGKILL between a page and its ack timeout resumes from the
database: the next step is paged exactly once after the restart."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.serve import Serve
from tests.support.slack_fake import FakeSlack
from tests.support.slack_helpers import (
    BOT_TOKEN,
    DEMO_CATALOG,
    SIGNING_SECRET,
    SlackSender,
    free_port,
)

pytestmark = pytest.mark.slow

ACK_TIMEOUT = 2.0


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


def _catalog(tmp_path: Path) -> Path:
    text = DEMO_CATALOG.read_text().replace("ack_timeout: 30s", f"ack_timeout: {ACK_TIMEOUT:.0f}s")
    assert text.count(f"ack_timeout: {ACK_TIMEOUT:.0f}s") == 3
    path = tmp_path / "catalog.yaml"
    path.write_text(text)
    return path




def test_a_killed_server_pages_the_next_step_once_after_restart(
    tmp_path: Path, fake: FakeSlack
) -> None:
    env = {
        **os.environ,
        "FIREBELL_CONFIG": str(_catalog(tmp_path)),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'firebell.db'}",
        "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake.api_url, "HOST": "127.0.0.1", "PORT": str(free_port()),
        "FIREBELL_POLL_SECONDS": "1",
    }
    env.pop("SLACK_APP_TOKEN", None)
    serve = Serve(env, tmp_path / "serve.log")
    serve.start()
    try:
        slack = SlackSender(serve.url, fake)
        response, key = slack.command(
            "/incident", "declare service=checkout severity=critical urgency=high Crash test",
            user="U0ERIN",
        )
        assert response.status_code == 200
        fake.wait_for(lambda: fake.direct_messages("U0ALICE"), timeout=ACK_TIMEOUT)
        paged_at = time.monotonic()
        serve.kill()  # before Alice's ack timeout runs out
        assert fake.direct_messages("U0BOB") == []

        time.sleep(max(0.0, paged_at + ACK_TIMEOUT + 0.5 - time.monotonic()))
        assert fake.direct_messages("U0BOB") == []
        serve.start()
        restarted = time.monotonic()
        fake.wait_for(lambda: fake.direct_messages("U0BOB"), timeout=5)
        time.sleep(max(0.0, restarted + 5 - time.monotonic()))
        assert len(fake.direct_messages("U0BOB")) == 1
        assert len(fake.direct_messages("U0ALICE")) == 1
        # The escalation went on from there: Erin, step 3, 2s later.
        assert len(fake.direct_messages("U0ERIN")) == 1
        slack.close()
    finally:
        serve.stop()
