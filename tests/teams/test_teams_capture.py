"""Teams channel messages on an incident's timeline: posts (mention and HTML stripped), edits,
deletions that leave no words behind, and messages elsewhere ignored."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.teams.capture import capture_activity
from storage.store import SqlStore
from tests.support.catalogs import PAGING
from tests.support.world import World

START = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
ALICE = "aad-alice-0000-0000-0000-000000000001"
CHANNEL = "19:inc-channel@thread.tacv2"
BOT = "28:00000000-0000-0000-0000-00000000f1b3"
CATALOG = PAGING.replace("slack: UALICE,", f"slack: UALICE, teams: {ALICE},")


def _activity(kind: str, activity_id: str, text: str = "", *, channel: str = CHANNEL,
              **extra: Any) -> dict[str, Any]:
    """A channel activity as Teams sends it to a bot with ChannelMessage.Read.Group."""
    activity: dict[str, Any] = {
        "type": kind, "id": activity_id, "channelId": "msteams",
        "timestamp": "2026-11-24T09:31:00.000Z", "serviceUrl": "https://smba.example/emea/",
        "from": {"id": f"29:{ALICE}", "name": "Alice", "aadObjectId": ALICE},
        "conversation": {"id": f"{channel};messageid={activity_id}", "conversationType": "channel",
                         "isGroup": True},
        "recipient": {"id": BOT, "name": "Firebell"},
        "channelData": {"teamsChannelId": channel, "channel": {"id": channel},
                        "team": {"id": "19:team@thread.tacv2"}},
        "text": text, "textFormat": "xml",
    }
    activity.update(extra)
    return activity


def _world(store: SqlStore, channel: str = CHANNEL) -> tuple[World, int]:
    world = World.for_paging(store, START, catalog=CATALOG)
    incident_id = world.declare_id()
    with store.transaction() as tx:
        incident = tx.get_incident(incident_id, for_update=True)
        incident.channel = channel
        tx.save_incident(incident)
    return world, incident_id


def test_a_channel_message_joins_the_timeline_once(store: SqlStore) -> None:
    world, incident_id = _world(store)
    mention = {"type": "mention", "text": "<at>Firebell</at>",
               "mentioned": {"id": BOT, "name": "Firebell"}}
    bob = {"type": "mention", "text": "<at>Bob</at>", "mentioned": {"id": "29:bob", "name": "Bob"}}
    posted = _activity(
        "message", "1001",
        '<p><at>Firebell</at> rolled back, ask <at>Bob</at> &amp; see '
        '<a href="https://grafana.example/d/1">the dashboard</a></p><p>error rate &lt; 1%</p>',
        entities=[mention, bob])
    assert capture_activity(world.ctx, posted) is True
    assert capture_activity(world.ctx, posted) is False  # redelivered: counted once
    [event] = world.events(incident_id, "message")
    assert event.text == ("rolled back, ask @Bob & see [the dashboard](https://grafana.example/d/1)"
                          "\nerror rate < 1%")
    assert event.actor == "alice" and event.source_id == f"{CHANNEL};messageid=1001:1001"
    assert event.data["links"] == ["https://grafana.example/d/1"]


def test_an_edit_revises_and_a_deletion_leaves_no_words(store: SqlStore) -> None:
    world, incident_id = _world(store)
    assert capture_activity(world.ctx, _activity("message", "1002", "the password is hunter2"))
    assert capture_activity(world.ctx, _activity(
        "messageUpdate", "1002", "the password is (removed)",
        channelData={"eventType": "editMessage", "channel": {"id": CHANNEL}}))
    [event] = world.events(incident_id, "message")
    assert event.text == "the password is (removed)"
    assert event.data["history"][0]["text"] == "the password is hunter2"
    assert capture_activity(world.ctx, _activity(
        "messageDelete", "1002", channelData={"eventType": "softDeleteMessage",
                                              "channel": {"id": CHANNEL}}))
    [event] = world.events(incident_id, "message")
    assert event.text == "" and event.data["deleted"] is True and event.data["history"] == []
    everything = " ".join(e.text + str(e.data) for e in world.events(incident_id))
    assert "hunter2" not in everything


def test_a_fallback_thread_is_an_incident_channel_of_its_own(store: SqlStore) -> None:
    thread = "19:general@thread.tacv2;messageid=900"
    world, incident_id = _world(store, channel=thread)
    reply = _activity("message", "901", "on it", channel="19:general@thread.tacv2")
    reply["conversation"]["id"] = thread  # a reply in the thread
    assert capture_activity(world.ctx, reply) is True
    elsewhere = _activity("message", "902", "lunch?", channel="19:general@thread.tacv2")
    assert capture_activity(world.ctx, elsewhere) is False  # a new post beside the thread
    assert [e.text for e in world.events(incident_id, "message")] == ["on it"]


def test_messages_outside_incident_channels_and_from_bots_are_ignored(store: SqlStore) -> None:
    world, incident_id = _world(store)
    assert not capture_activity(world.ctx, _activity("message", "1", "hi", channel="19:other@x"))
    bot = _activity("message", "2", "posted by an app", **{"from": {"id": BOT, "role": "bot"}})
    assert not capture_activity(world.ctx, bot)
    assert not capture_activity(world.ctx, _activity("conversationUpdate", "3"))
    assert world.events(incident_id, "message") == []
