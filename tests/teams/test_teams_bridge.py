"""The bridge link (issue 18) in Teams, through real HTTP: the catalog's template gives each
incident its bridge, which Firebell pins as a Website tab "Bridge" on the incident's channel
through Microsoft Graph; `incident bridge <url>`, typed to the bot in the channel, points the
same tab at the new room; a Graph outage on the tab is retried and keeps nobody from being
paged. Slack is off; Microsoft and Twilio are loopback fakes; time is a fake clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.teams import graph_fake
from tests.teams.fakes import APP_ID, TENANT, message
from tests.teams.story import AAD, TeamsWorld, card_words, words
from workflows.clock import FakeClock
from workflows.model import channel_name

pytestmark = pytest.mark.slow

START = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)  # a Tuesday: Alice is primary
DECLARE = "incident declare service=checkout severity=critical urgency=high Checkout down"
TEMPLATE = "https://meet.jit.si/{incident_slug}"
WEBSITE = "com.microsoft.teamspace.tab.web"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def world(tmp_path: Path, clock: FakeClock, database_url: str) -> Iterator[TeamsWorld]:
    made = TeamsWorld(tmp_path, clock=clock, database_url=database_url,
                      catalog_extra=f'bridge: "{TEMPLATE}"')
    yield made
    made.close()


def _declared(world: TeamsWorld) -> tuple[Any, str]:
    """Alice declares a P1 in her 1:1 chat: the incident and its Graph channel."""
    assert world.say("alice", DECLARE).startswith("Declared INC-1 (P1)")
    channel = world.wait(lambda: [i.channel for i in world.incidents() if i.channel])[0]
    assert channel in world.graph.channels
    return world.incidents()[0], channel


def _tab_posts(world: TeamsWorld, channel: str) -> list[tuple[str, str]]:
    path = f"/teams/{graph_fake.TEAM}/channels/{channel}/tabs"
    return [call for call in list(world.graph.calls) if call == ("POST", path)]


def _in_channel(world: TeamsWorld, channel: str, text: str, *, person: str) -> str:
    """`person` mentions the bot in the incident's channel with `text`; the bot's answer."""
    thread = f"{channel};messageid=1700000000077"
    before = len(world.to(thread))
    activity = message(world.service_url, f"<at>Firebell</at> {text}", user=AAD[person],
                       conversation=thread, kind="channel",
                       entities=[{"type": "mention", "text": "<at>Firebell</at>",
                                  "mentioned": {"id": f"28:{APP_ID}", "name": "Firebell"}}],
                       channelData={"tenant": {"id": TENANT}, "channel": {"id": channel}})
    assert world.post(activity).status_code == 200
    return words(world.wait(lambda: world.to(thread)[before:])[0].body)


def test_the_bridge_is_a_channel_tab_and_the_command_points_the_same_tab_elsewhere(
        world: TeamsWorld) -> None:
    incident, channel = _declared(world)
    bridge = f"https://meet.jit.si/{channel_name(incident)}"
    assert incident.bridge == bridge

    # One Website tab "Bridge" that opens the bridge, in Teams and outside it.
    [tab] = world.wait(lambda: world.graph.tabs.get(channel))
    assert tab["displayName"] == "Bridge" and tab["teamsApp"]["id"] == WEBSITE
    assert (tab["configuration"]["contentUrl"], tab["configuration"]["websiteUrl"]) == (bridge,
                                                                                        bridge)
    world.wait(lambda: bridge in (world.graph.channels[channel].get("description") or ""))

    # Bob opens a better room, typing the command to the bot in the incident's channel.
    new = "https://zoom.example/j/8841?pwd=a1"
    assert _in_channel(world, channel, f"incident bridge {new}", person="bob") == (
        f"The bridge of INC-1 is now {new}.")
    assert world.incidents()[0].bridge == new
    world.wait(lambda: world.graph.tabs[channel][0]["configuration"]["contentUrl"] == new)
    [tab] = world.graph.tabs[channel]  # the same tab, pointed elsewhere: never a second one
    assert tab["displayName"] == "Bridge" and tab["configuration"]["websiteUrl"] == new
    assert len(_tab_posts(world, channel)) == 1
    world.wait(lambda: new in (world.graph.channels[channel].get("description") or ""))
    [event] = world.events(incident.id, "bridge_set")
    assert (event.actor, event.data["url"], event.data["before"]) == ("bob", new, bridge)


def test_a_graph_outage_on_the_tab_is_retried_and_does_not_hold_up_the_page(
        world: TeamsWorld, clock: FakeClock) -> None:
    world.graph.busy["add tab"] = 2  # Graph answers 503 twice, then takes the tab
    incident, channel = _declared(world)

    # Alice is paged, with the bridge, while Graph still refuses the tab.
    [page] = world.wait(lambda: world.pages("alice"))
    assert incident.bridge and incident.bridge in card_words(page.body["attachments"][0]["content"])
    world.wait(lambda: world.graph.busy["add tab"] == 1)
    assert world.graph.tabs.get(channel, []) == []

    # The effect is retried after its backoff (2 s, then 4 s) until Graph takes it, once.
    clock.advance(timedelta(seconds=3))
    world.firebell.tick()
    world.wait(lambda: world.graph.busy["add tab"] == 0)
    assert world.graph.tabs.get(channel, []) == []
    clock.advance(timedelta(seconds=5))
    world.firebell.tick()
    [tab] = world.wait(lambda: world.graph.tabs.get(channel))
    assert (tab["displayName"], tab["configuration"]["contentUrl"]) == ("Bridge", incident.bridge)
    assert len(_tab_posts(world, channel)) == 3
    assert world.events(incident.id, "delivery_failed") == []
