"""The bridge link (issue 18) end to end: real HTTP, real Bolt, signed Slack requests and the
Slack Web API fake. The catalog's template gives each incident its bridge, which is in the
channel's topic and bookmark, on the live card and in the page; `/incident bridge <url>`
replaces it everywhere."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.support.paths import DEMO_CATALOG
from tests.support.slack_helpers import Harness
from workflows.clock import FakeClock

pytestmark = pytest.mark.slow

START = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)  # a Tuesday; alice is primary
DECLARE = "declare service=checkout severity=critical urgency=high"
TEMPLATE = "https://meet.jit.si/{incident_slug}"


@pytest.fixture
def h(tmp_path: Path, database_url: str) -> Iterator[Harness]:
    catalog = tmp_path / "firebell.yaml"
    catalog.write_text(DEMO_CATALOG.read_text() + f'\nbridge: "{TEMPLATE}"\n')
    harness = Harness(tmp_path, clock=FakeClock(START), catalog=catalog, database_url=database_url)
    yield harness
    harness.close()


def _link_buttons(call: Any) -> dict[str, str]:
    """text -> url of the URL buttons in a chat.postMessage / chat.update call."""
    return {element["text"]["text"]: element["url"]
            for block in call.params.get("blocks") or [] if block["type"] == "actions"
            for element in block["elements"] if "url" in element}


def _card_urls(h: Harness, channel: str) -> list[str | None]:
    """The bridge of each version of the channel's card, oldest first."""
    calls = h.fake.calls_to("chat.postMessage", channel=channel) + h.fake.calls_to(
        "chat.update", channel=channel)
    calls.sort(key=lambda c: c.at)
    return [_link_buttons(c).get("Join the bridge") for c in calls if "Runbook" in _link_buttons(c)]


def _topics(h: Harness, channel: str) -> list[str]:
    return [str(c.params["topic"]) for c in h.fake.calls_to("conversations.setTopic", channel=channel)]


def test_the_bridge_is_in_topic_bookmark_card_and_page_and_can_be_replaced(h: Harness) -> None:
    response, key = h.slack.command("/incident", f"{DECLARE} Checkout down", user="U0BOB")
    assert response.status_code == 200
    [text] = h.fake.wait_for_response(key)
    incident_id = int(text.split()[1].removeprefix("INC-"))
    channel = h.fake.wait_for(
        lambda: [c.channel for c in h.incidents() if c.id == incident_id and c.channel])[0]
    name = h.fake.channels[channel]["name"]
    bridge = f"https://meet.jit.si/{name}"
    assert h.incidents()[0].bridge == bridge

    h.fake.wait_for(lambda: any(f"Bridge: {bridge}" in t for t in _topics(h, channel)))
    h.fake.wait_for(lambda: h.fake.bookmarks.get(channel))
    assert [(b["title"], b["link"]) for b in h.fake.bookmarks[channel]] == [("Bridge", bridge)]
    h.fake.wait_for(lambda: bridge in _card_urls(h, channel))
    [page] = h.fake.wait_for(lambda: h.fake.direct_messages("U0ALICE"))
    assert f"Bridge: {bridge}" in page.params["text"]

    # Someone opens a better room: everything that shows the bridge follows.
    new = "https://zoom.example/j/8841?pwd=a1"
    _, key = h.slack.command("/incident", f"bridge <{new}>", user="U0BOB", channel=channel)
    assert h.fake.wait_for_response(key) == [f"The bridge of INC-{incident_id} is now {new}."]
    assert h.incidents()[0].bridge == new
    h.fake.wait_for(lambda: f"Bridge: {new}" in _topics(h, channel)[-1])
    h.fake.wait_for(lambda: h.fake.bookmarks[channel][0]["link"] == new)
    assert len(h.fake.bookmarks[channel]) == 1  # the same bookmark, edited
    h.fake.wait_for(lambda: _card_urls(h, channel)[-1] == new)
    [event] = h.events(incident_id, "bridge_set")
    assert (event.actor, event.data["url"], event.data["before"]) == ("bob", new, bridge)
    h.fake.wait_for(lambda: any(new in str(c.params.get("text"))
                                for c in h.fake.calls_to("chat.postMessage", channel=channel)))


def test_a_bridge_that_is_not_a_web_link_is_refused(h: Harness) -> None:
    _, key = h.slack.command("/incident", f"{DECLARE} Checkout down", user="U0BOB")
    [text] = h.fake.wait_for_response(key)
    incident_id = int(text.split()[1].removeprefix("INC-"))
    channel = h.fake.wait_for(
        lambda: [c.channel for c in h.incidents() if c.id == incident_id and c.channel])[0]
    _, key = h.slack.command("/incident", "bridge ftp://files.example/room", user="U0BOB",
                             channel=channel)
    [reply] = h.fake.wait_for_response(key)
    assert "must be an http:// or https:// link" in reply
    assert h.incidents()[0].bridge == f"https://meet.jit.si/{h.fake.channels[channel]['name']}"
    assert h.events(incident_id, "bridge_set") == []
