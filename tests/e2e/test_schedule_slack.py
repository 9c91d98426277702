"""Override, cover (with the Take button), history and undo through Slack's HTTP path."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.slack_helpers import Harness
from workflows.clock import FakeClock
from workflows.oncall.schedules import on_call

pytestmark = pytest.mark.slow
START = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)  # Tuesday 10:30 Berlin; alice is primary


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path, clock=FakeClock(START))
    yield harness
    harness.close()


def primary(h: Harness, at: datetime) -> list[str]:
    return on_call(h.firebell.ctx.catalog, schedule_id="payments-primary", at=at)


def test_override_cover_take_history_and_undo_over_slack(h: Harness) -> None:
    _, key = h.slack.command("/oncall", "override payments-primary @erin 11:00 2h")
    [text] = h.fake.wait_for_response(key)
    assert "version 2" in text, text
    assert primary(h, datetime(2026, 11, 24, 10, 30, tzinfo=UTC)) == ["erin"]

    _, key = h.slack.command("/oncall", "cover payments-primary 1h", user="U0ALICE")
    [text] = h.fake.wait_for_response(key)
    assert "Asked Payments to cover you" in text, text
    [offer] = h.fake.wait_for(lambda: h.fake.calls_to("chat.postMessage", channel="C0PAYMENTS"))
    buttons = {e["action_id"]: e["value"] for b in offer.params.get("blocks") or []
               if b["type"] == "actions" for e in b["elements"]}  # fmt: skip
    _, key = h.slack.button("take", buttons["firebell_take"], user="U0BOB", channel="C0PAYMENTS")
    [text] = h.fake.wait_for_response(key)
    assert "You are on call" in text, text
    assert primary(h, START) == ["bob"]
    # The offer itself is edited in place: who took it and when, and no live Take button.
    [edited] = h.fake.wait_for(lambda: h.fake.calls_to("chat.update", channel="C0PAYMENTS"))
    assert edited.params["ts"] == h.fake.history["C0PAYMENTS"][0]["ts"]
    assert "Bob Brandt took the cover of Alice Doe" in edited.params["text"]
    assert "firebell_take" not in str(edited.params.get("blocks"))
    _, key = h.slack.button("take", buttons["firebell_take"], user="U0ERIN", channel="C0PAYMENTS")
    [text] = h.fake.wait_for_response(key)
    assert "took that shift first" in text

    _, key = h.slack.command("/oncall", "history payments-primary")
    [text] = h.fake.wait_for_response(key)
    assert "v3" in text and "v2" in text and "v1" in text

    _, key = h.slack.command("/oncall", "undo payments-primary", user="U0ERIN")
    [text] = h.fake.wait_for_response(key)
    assert "back to version 2" in text, text
    assert primary(h, START) == ["alice"]
    h.fake.wait_for(lambda: h.fake.direct_messages("U0BOB"))
