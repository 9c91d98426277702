"""The postmortem story through Slack's HTTP path: signed events and slash commands into the
real server, Slack's Web API a fake on loopback (conversations.history, file upload)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.slack_helpers import Harness
from workflows.clock import FakeClock

pytestmark = pytest.mark.slow

START = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)  # a Tuesday
SECTIONS = ["## Summary", "## Impact", "## Detection and response", "## Timeline",
            "## Root cause", "## Contributing factors", "## What went well",
            "## What went badly", "## Action items", "## Links"]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def h(tmp_path: Path, clock: FakeClock, database_url: str) -> Iterator[Harness]:
    harness = Harness(tmp_path, clock=clock, database_url=database_url)
    yield harness
    harness.close()


def _command(h: Harness, text: str, *, user: str, channel: str) -> str:
    response, key = h.slack.command("/incident", text, user=user, channel=channel)
    assert response.status_code == 200
    return h.fake.wait_for_response(key, timeout=10)[0]


def _ts(seconds: int) -> str:
    return f"{(START + timedelta(seconds=seconds)).timestamp():.6f}"


def test_postmortem_draft_has_every_message_once_in_order(h: Harness, clock: FakeClock) -> None:
    answer = _command(h, "declare service=checkout severity=critical urgency=high Checkout down",
                      user="U0BOB", channel="C0GENERAL")
    incident_id = int(answer.split()[1].removeprefix("INC-"))
    # The channel is an effect of its own, performed beside the pages, after the answer.
    channel = h.fake.wait_for(
        lambda: [i.channel for i in h.incidents() if i.id == incident_id and i.channel])[0]

    def say(seconds: int, user: str, text: str, event_id: str, *, retry: int | None = None) -> None:
        event = {"type": "message", "channel": channel, "user": user, "text": text,
                 "ts": _ts(seconds), "event_ts": _ts(seconds), "channel_type": "channel"}
        assert h.slack.event(event, event_id=event_id, retry=retry).status_code == 200

    clock.set(START + timedelta(seconds=60))
    say(60, "U0ALICE", "checkout answers 500 since 10:29", "Ev1")
    say(60, "U0ALICE", "checkout answers 500 since 10:29", "Ev1", retry=1)  # Slack's retry
    h.fake.wait_for(lambda: h.events(incident_id, "message"))
    clock.set(START + timedelta(seconds=120))
    say(120, "U0BOB", "rolling back deploy 4812 <https://ci.example/4812|pipeline>", "Ev2")
    h.fake.wait_for(lambda: len(h.events(incident_id, "message")) == 2)
    # Sent while Firebell was not listening: only the channel history has it.
    h.fake.history.setdefault(channel, []).append(
        {"type": "message", "user": "U0BOB", "text": "rollback done, errors falling", "ts": _ts(150)})
    clock.set(START + timedelta(seconds=180))
    assert _command(h, "role commander <@U0BOB>", user="U0ALICE", channel=channel).startswith(
        "Incident commander")
    clock.set(START + timedelta(seconds=240))
    assert _command(h, "resolve", user="U0BOB", channel=channel) == f"INC-{incident_id} resolved."
    clock.set(START + timedelta(seconds=300))
    time.sleep(0.3)  # a late redelivery would have landed by now
    answer = _command(h, "postmortem", user="U0BOB", channel=channel)
    assert answer.startswith(f"Postmortem draft of INC-{incident_id} posted and stored"), answer
    assert "1 message(s) added from the channel history" in answer

    [upload] = h.fake.wait_for(lambda: [u for u in h.fake.uploads.values() if u.get("channel")])
    draft = upload["content"]
    assert upload["name"] == f"postmortem-INC-{incident_id}.md"
    assert [draft.index(s) for s in SECTIONS] == sorted(draft.index(s) for s in SECTIONS)
    said = ["checkout answers 500 since 10:29", "rolling back deploy 4812",
            "rollback done, errors falling"]
    assert [draft.count(text) for text in said] == [1, 1, 1]
    timeline = draft[draft.index("## Timeline"):draft.index("## Root cause")]
    order = [timeline.index(t) for t in
             ["| declared |", *said, "| role set |", "| resolved |"]]
    assert order == sorted(order)
    assert "https://ci.example/4812" in draft[draft.index("## Links"):]
    assert "| Incident commander | Bob Brandt |" in draft
    # Stored: the export is the same text.
    from workflows.followup.postmortem import markdown

    assert markdown(h.firebell.ctx, incident_id=incident_id) == draft
