"""Microsoft Graph and the Teams chat port: channels (private, standard, the fallback thread when
Graph refuses), members, descriptions, installing the app for a person, finding a keyed post.

Graph is `tests/teams/graph_fake.py` and the Bot Connector the core's `FakeMicrosoft`, both on
loopback; references and incidents are in a real SQLite file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.teams.chat import TeamsChat, TeamsPager
from bot.teams.connector import BotConnector
from bot.teams.graph import Graph, GraphError
from storage.db import upgrade
from storage.store import SqlStore
from storage.teams_store import ConversationRef, SqlTeamsStore
from tests.support.catalogs import PAGING
from tests.support.world import World
from tests.teams import graph_fake
from tests.teams.fakes import APP_ID, APP_PASSWORD, TENANT, FakeMicrosoft
from tests.teams.graph_fake import FakeGraph
from workflows.model import Page, channel_name
from workflows.ports import ExternalServiceError, Message

START = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
GENERAL = "19:payments-general@thread.tacv2"
ALICE, BOB, FRANK = (f"aad-{name}-0000-0000-0000-000000000001" for name in ("alice", "bob", "frank"))
CATALOG = (PAGING
           .replace("slack: UALICE,", f"slack: UALICE, teams: {ALICE},")
           .replace("slack: UBOB,", f"slack: UBOB, teams: {BOB},")
           .replace("slack: UFRANK,", f"slack: UFRANK, teams: {FRANK},")
           .replace("slack_channel: CPAY,", f"slack_channel: CPAY, teams_channel: '{GENERAL}',"))


class Setup:
    def __init__(self, tmp_path: Path, *, graph_on: bool = True) -> None:
        url = f"sqlite:///{tmp_path / 'firebell.db'}"
        upgrade(url)
        self.store = SqlStore(url)
        self.world = World.for_paging(self.store, START, catalog=CATALOG)
        self.microsoft = FakeMicrosoft().start()
        self.fake = FakeGraph().start()
        self.references = SqlTeamsStore(self.store.engine)
        # Teams wrote to us from the team's channel: its service URL is one we may use.
        self.references.remember(
            ConversationRef(GENERAL, self.microsoft.service_url, TENANT, "channel"),
            user=None, now=START)
        self.connector = BotConnector(
            app_id=APP_ID, app_password=APP_PASSWORD, tenant_id=TENANT,
            login_url=self.microsoft.url, trusted=self.references.knows_service_url)
        self.graph = Graph(client_id=graph_fake.CLIENT_ID, client_secret=graph_fake.CLIENT_SECRET,
                           tenant_id=graph_fake.TENANT, team_id=graph_fake.TEAM,
                           login_url=self.fake.url, graph_url=self.fake.graph_url)
        self.chat = TeamsChat(self.connector, references=self.references,
                              catalog=self.world.ctx.catalog, store=self.store, tenant_id=TENANT,
                              app_id=APP_ID, graph=self.graph if graph_on else None,
                              clock=self.world.clock)

    def close(self) -> None:
        self.graph.close()
        self.fake.stop()
        self.microsoft.stop()
        self.store.engine.dispose()

    def incident_name(self, **overrides: Any) -> str:
        return channel_name(self.world.declare(**overrides))


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    made = Setup(tmp_path)
    yield made
    made.close()


def test_a_security_incident_gets_a_private_channel_owned_by_its_declarer(setup: Setup) -> None:
    name = setup.incident_name(security=True)
    channel = setup.chat.create_channel(name=name, private=True)
    made = setup.fake.channels[channel]
    assert (made["displayName"], made["membershipType"]) == (name[:50], "private")
    owner = setup.fake.channel_members[channel][0]
    assert owner["roles"] == ["owner"] and owner["user@odata.bind"].endswith(f"/users('{FRANK}')")
    setup.chat.invite(channel=channel, people=["alice", "bob"])
    added = [m["user@odata.bind"] for m in setup.fake.channel_members[channel][1:]]
    assert [a.rsplit("'", 2)[1] for a in added] == [ALICE, BOB]
    assert setup.fake.team_members == []
    # Every Graph call carried a token from the Graph scope, fetched once and reused.
    assert len(setup.fake.token_requests) == 1


def test_a_standard_channel_opens_to_people_through_the_team(setup: Setup) -> None:
    channel = setup.chat.create_channel(name=setup.incident_name(), private=False)
    assert setup.fake.channels[channel]["membershipType"] == "standard"
    with pytest.raises(ExternalServiceError, match="carol") as refused:
        setup.chat.invite(channel=channel, people=["alice", "carol"])  # Carol has no Teams id
    assert not refused.value.retryable
    assert setup.fake.team_members == [ALICE]
    setup.chat.set_topic(channel=channel, topic="*P1* · commander alice :rotating_light:")
    assert setup.fake.channels[channel]["description"] == "**P1** · commander alice \U0001f6a8"
    link = setup.chat.channel_link(channel)
    assert link.startswith("[inc-20261124-") and "https://teams.microsoft.com/l/channel/19%3A" in link
    assert f"groupId={graph_fake.TEAM}" in link and f"tenantId={TENANT}" in link


def test_a_taken_name_gets_a_suffix_and_a_retry_finds_the_channel(setup: Setup) -> None:
    name = setup.incident_name()
    first = setup.chat.create_channel(name=name, private=False)
    second = setup.chat.create_channel(name=name, private=False)
    assert setup.fake.channels[second]["displayName"] == name[:48] + "-2"
    assert setup.chat.find_channel(name=name) == first


def test_when_graph_refuses_the_incident_gets_a_thread_in_the_team_channel(setup: Setup) -> None:
    setup.fake.refuse.add("create channel")
    channel = setup.chat.create_channel(name=setup.incident_name(), private=False)
    assert channel.startswith("a:conversation-")  # the thread's conversation id
    opened = setup.microsoft.wait_for(1)[0]
    assert opened.path == "conversations"
    assert opened.body["channelData"]["channel"]["id"] == GENERAL
    words = json.dumps(opened.body["activity"])
    assert "could not create a Teams channel" in words and "Channel.Create" in words
    # Graph then knows nothing of the thread: members and topic are left alone.
    before = list(setup.fake.calls)
    setup.chat.invite(channel=f"{GENERAL};messageid=1", people=["alice"])
    setup.chat.set_topic(channel=f"{GENERAL};messageid=1", topic="P1")
    assert setup.fake.calls == before


def test_without_graph_the_thread_says_graph_is_not_configured(tmp_path: Path) -> None:
    setup = Setup(tmp_path, graph_on=False)
    try:
        setup.chat.create_channel(name=setup.incident_name(), private=True)
        opened = setup.microsoft.wait_for(1)[0]
        assert "Microsoft Graph is not configured" in json.dumps(opened.body["activity"])
        with pytest.raises(ExternalServiceError, match="has not installed Firebell in Teams"):
            setup.chat.send_direct(person="alice", message=Message(text="hello"))
    finally:
        setup.close()


def test_a_person_never_seen_gets_the_app_installed_then_a_page(setup: Setup) -> None:
    incident = setup.world.declare()
    page = Page(incident_id=incident.id or 0, person="alice", channel="chat", created_at=START)
    ref = TeamsPager(setup.chat).send_page(page=page, incident=incident,
                                           message=Message(text="You are paged"))
    assert setup.fake.installed == {ALICE: [graph_fake.CATALOG_APP]}
    opened, sent = setup.microsoft.wait_for(2)
    assert opened.path == "conversations" and opened.body["members"] == [{"id": ALICE}]
    card = sent.body["attachments"][0]["content"]
    assert card["actions"][0]["verb"] == "ack" and card["refresh"]["userIds"] == [ALICE]
    assert ref == "a:conversation-1:activity-2"
    # The 1:1 chat is remembered: the next message goes straight there, no second install.
    setup.chat.send_direct(person="alice", message=Message(text="again"))
    assert setup.microsoft.wait_for(3)[2].path == "conversations/a:conversation-1/activities"
    assert len([c for c in setup.fake.calls if c[1].endswith("installedApps")]) == 1
    # After the ack the card is replaced in place, without its button.
    incident.acknowledged_by = "alice"
    page.ref = ref
    TeamsPager(setup.chat).acknowledged([page], incident=incident, text="You are paged")
    update = setup.microsoft.wait_for(4)[3]
    assert (update.method, update.path) == ("PUT", "conversations/a:conversation-1/activities/activity-2")
    replaced = update.body["attachments"][0]["content"]
    assert "actions" not in replaced and "Acknowledged by Alice" in json.dumps(replaced)


def test_an_install_graph_refuses_says_who_cannot_be_reached(setup: Setup) -> None:
    setup.fake.refuse.add("install")
    with pytest.raises(ExternalServiceError, match="Alice has not installed Firebell in Teams") as error:
        setup.chat.send_direct(person="alice", message=Message(text="hello"))
    assert not error.value.retryable and "TeamsAppInstallation" in str(error.value)


def test_a_keyed_post_is_found_again_through_graph(setup: Setup) -> None:
    channel = setup.chat.create_channel(name=setup.incident_name(), private=False)
    posted = setup.chat.post_keyed(channel=channel, message=Message(text="Welcome"), key="k-1")
    sent = setup.microsoft.wait_for(1)[0]
    # Teams keeps the card as the message's attachment, which Graph returns as a JSON string.
    setup.fake.messages[channel] = [{
        "id": posted.rpartition(":")[2], "createdDateTime": "2026-11-24T09:30:01Z",
        "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
                         "content": json.dumps(sent.body["attachments"][0]["content"])}]}]
    assert setup.chat.find_posted(channel=channel, key="k-1", since=START) == posted
    assert setup.chat.find_posted(channel=channel, key="k-2", since=START) is None


def test_graph_errors_say_whether_to_retry(setup: Setup) -> None:
    with pytest.raises(GraphError) as missing:
        setup.graph.channel("19:nope@thread.tacv2")
    assert (missing.value.status, missing.value.retryable) == (404, False)
    wrong = Graph(client_id=graph_fake.CLIENT_ID, client_secret="wrong", tenant_id=graph_fake.TENANT,
                  team_id=graph_fake.TEAM, login_url=setup.fake.url, graph_url=setup.fake.graph_url)
    with pytest.raises(GraphError, match="invalid_client"):
        wrong.channel("x")
    wrong.close()
    down = Graph(client_id="a", client_secret="b", tenant_id="c", team_id="d",
                 login_url="http://127.0.0.1:9", graph_url="http://127.0.0.1:9/v1.0")
    with pytest.raises(ExternalServiceError) as unreachable:
        down.channel("x")
    assert unreachable.value.retryable
    down.close()


def test_the_bridge_tab_is_pinned_once_and_repointed_and_a_thread_has_none(setup: Setup) -> None:
    channel = setup.chat.create_channel(name=setup.incident_name(), private=False)
    tabs = f"/teams/{graph_fake.TEAM}/channels/{channel}/tabs"
    setup.chat.set_bookmark(channel=channel, title="Bridge", url="https://meet.jit.si/a")
    setup.chat.set_bookmark(channel=channel, title="Bridge", url="https://meet.jit.si/a")  # a retry
    [tab] = setup.fake.tabs[channel]
    assert tab["teamsApp"]["id"] == "com.microsoft.teamspace.tab.web"
    assert tab["displayName"] == "Bridge" and tab["configuration"]["contentUrl"] == (
        "https://meet.jit.si/a")
    writes = [m for m, p in setup.fake.calls if p.startswith(tabs) and m != "GET"]
    assert writes == ["POST"]  # the retry found the tab and left it alone
    setup.chat.set_bookmark(channel=channel, title="Bridge", url="https://zoom.example/j/1")
    assert [m for m, p in setup.fake.calls if p.startswith(tabs) and m != "GET"] == ["POST", "PATCH"]
    [tab] = setup.fake.tabs[channel]
    assert tab["configuration"]["contentUrl"] == tab["configuration"]["websiteUrl"] == (
        "https://zoom.example/j/1")
    # A fallback thread has no tabs: Graph is not asked.
    before = list(setup.fake.calls)
    setup.chat.set_bookmark(channel=f"{GENERAL};messageid=1", title="Bridge", url="https://x.example")
    assert setup.fake.calls == before


def test_tab_errors_say_whether_to_retry(setup: Setup) -> None:
    channel = setup.chat.create_channel(name=setup.incident_name(), private=False)
    setup.fake.busy["list tabs"] = 1
    with pytest.raises(GraphError) as busy:
        setup.chat.set_bookmark(channel=channel, title="Bridge", url="https://meet.jit.si/a")
    assert (busy.value.status, busy.value.retryable) == (503, True)
    setup.fake.refuse.add("tabs")
    with pytest.raises(GraphError, match="TeamsTab") as refused:
        setup.chat.set_bookmark(channel=channel, title="Bridge", url="https://meet.jit.si/a")
    assert (refused.value.status, refused.value.retryable) == (403, False)
    assert setup.fake.tabs.get(channel, []) == []
