"""The whole incident in Teams, through real HTTP: declare -> channel (Graph) -> page -> nobody
acknowledges -> escalation -> ack by the card -> the channel's words on the timeline (edited,
deleted) -> resolve -> the postmortem. Slack is off; Twilio and Microsoft are loopback fakes;
time is a fake clock the test moves, the due deadlines run by `firebell.tick()`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.slack_helpers import API_TOKEN
from tests.teams import graph_fake
from tests.teams.fakes import APP_ID, TENANT, message
from tests.teams.story import AAD, GENERAL, TeamsWorld, card_words, personal
from workflows.clock import FakeClock
from workflows.model import State

pytestmark = pytest.mark.slow

START = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)  # a Tuesday: Alice primary, Bob secondary
DECLARE = "incident declare service=checkout severity=critical urgency=high Checkout down"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def world(tmp_path: Path, clock: FakeClock, database_url: str) -> Iterator[TeamsWorld]:
    made = TeamsWorld(tmp_path, clock=clock, database_url=database_url)
    yield made
    made.close()


def _form(**overrides: str) -> dict[str, str]:
    """The declare card's inputs as Teams sends them with the `declare` verb."""
    return {"title": "Card data leaked to logs", "service": "checkout", "severity": "critical",
            "urgency": "high", "environment": "production", "description": "PANs in app logs",
            "drill": "false", "security": "false", "privacy": "true", "compliance": "false",
            **overrides}


def test_declare_page_escalate_ack_by_card_capture_resolve_postmortem(
        world: TeamsWorld, clock: FakeClock) -> None:
    # Alice declares in her 1:1 chat with the bot.
    answer = world.say("alice", DECLARE)
    assert answer.startswith("Declared INC-1 (P1)"), answer
    [incident] = world.incidents()
    assert (incident.title, incident.priority, incident.declared_by) == ("Checkout down", "P1", "alice")

    # The channel is made in the team through Graph (standard: not security or privacy), and
    # the responders are made members of the team, which opens its standard channels to them.
    channel = world.wait(lambda: [i.channel for i in world.incidents() if i.channel])[0]
    made = world.graph.channels[channel]
    assert made["displayName"].startswith("inc-20261124-1-checkout-down")
    assert made["membershipType"] == "standard"
    world.wait(lambda: AAD["alice"] in world.graph.team_members)

    # Alice (primary) is paged: a 1:1 card with Acknowledge, Escalate, Snooze and the runbook
    # and dashboards; nobody else yet.
    [page] = world.wait(lambda: world.pages("alice"))
    assert page.path == f"conversations/{personal('alice')}/activities"
    card = page.body["attachments"][0]["content"]
    data = {"incident": incident.id}
    assert [(a["type"], a.get("verb"), a.get("data")) for a in card["actions"]][:3] == [
        ("Action.Execute", "ack", data), ("Action.Execute", "pass", data),
        ("Action.Execute", "snooze", data)]
    assert {a["title"] for a in card["actions"][3:]} >= {"Runbook", "Dashboard"}
    assert "Checkout down" in card_words(card)
    assert world.pages("bob") == []

    # Nobody acknowledges: past the 30 s step, Bob (secondary) is paged. He never wrote to the
    # bot, so Graph installs the app for him and the bot opens the 1:1 chat.
    clock.advance(timedelta(seconds=29))
    world.firebell.tick()
    assert world.pages("bob") == []
    clock.advance(timedelta(seconds=2))
    world.firebell.tick()
    [bob_page] = world.wait(lambda: world.pages("bob"))
    assert world.graph.installed == {AAD["bob"]: [graph_fake.CATALOG_APP]}
    assert "Escalation step 2" in json.dumps(bob_page.body)
    bob_chat = bob_page.path.split("/")[1]
    assert len(world.pages("alice")) == 1
    assert [m.to for m in world.twilio.messages()] == ["+15550100001", "+15550100002"]

    # Bob acknowledges with his card's button: the answer is the same card, with no button.
    refreshed = world.invoke("bob", "ack", {"incident": incident.id}, conversation=bob_chat)
    assert "actions" not in refreshed and "refresh" not in refreshed
    assert "Acknowledged by Bob Brandt" in card_words(refreshed)
    assert world.incidents()[0].state == State.ACKNOWLEDGED
    assert world.incidents()[0].acknowledged_by == "bob"
    # Alice's card is replaced in place (Bot Connector PUT of the same activity): no button.
    alice_activity = page.path.removesuffix("/activities")
    [update] = world.wait(lambda: [s for s in world.microsoft.sent
                                   if s.method == "PUT" and s.path.startswith(alice_activity)])
    replaced = update.body["attachments"][0]["content"]
    assert "actions" not in replaced and "Acknowledged by Bob Brandt" in card_words(replaced)
    # The live card in the incident's channel (posted once, with the facts as a FactSet) is
    # replaced in place too: acknowledged by Bob, no Acknowledge action left.
    [posted] = [s for s in world.microsoft.sent if s.method == "POST"
                and '"FactSet"' in json.dumps(s.body) and channel in s.path]
    assert '"verb": "ack"' in json.dumps(posted.body)
    card_path = posted.path
    [replaced_card, *_] = world.wait(lambda: [
        s for s in world.microsoft.sent if s.method == "PUT" and s.path.startswith(card_path)
        and "Acknowledged by Bob Brandt" in json.dumps(s.body)])
    assert '"verb": "ack"' not in json.dumps(replaced_card.body)
    assert '"verb": "status"' in json.dumps(replaced_card.body)
    # And when Teams shows it again, it refreshes itself to the acknowledged one.
    alice_sees = world.invoke("alice", "refresh", {"incident": incident.id})
    assert "actions" not in alice_sees and "Acknowledged by Bob Brandt" in card_words(alice_sees)

    # The acknowledgement stopped the escalation: Erin (step 3) is never paged.
    clock.advance(timedelta(seconds=61))
    world.firebell.tick()
    assert world.pages("erin") == [] and AAD["erin"] not in world.graph.installed

    # The channel's words join the timeline without mentioning the bot; an edit revises, a
    # deletion leaves nothing behind.
    clock.advance(timedelta(seconds=30))
    world.channel_activity("message", channel, "1001", "<p>rolled back deploy 4812</p>",
                           person="bob")
    world.channel_activity("message", channel, "1002", "db password is hunter2", person="alice")
    world.wait(lambda: len(world.events(incident.id, "message")) == 2)
    world.channel_activity("messageUpdate", channel, "1001",
                           "<p>rolled back deploy 4812, errors falling</p>", person="bob",
                           eventType="editMessage")
    world.channel_activity("messageDelete", channel, "1002", "", person="alice",
                           eventType="softDeleteMessage")
    world.wait(lambda: [e for e in world.events(incident.id, "message") if e.data.get("deleted")])
    texts = {e.actor: e.text for e in world.wait(
        lambda: [e for e in world.events(incident.id, "message") if "falling" in e.text]
        and world.events(incident.id, "message"))}
    assert texts == {"bob": "rolled back deploy 4812, errors falling", "alice": ""}

    # Bob resolves by the same words in his chat; the postmortem (API) has the timeline.
    clock.advance(timedelta(seconds=60))
    assert world.say("bob", f"incident resolve {incident.id}") == f"INC-{incident.id} resolved."
    assert world.incidents()[0].state == State.RESOLVED
    exported = world.http.get(f"{world.server.url}/api/v1/incidents/{incident.id}/postmortem",
                              headers={"Authorization": f"Bearer {API_TOKEN}"})
    assert exported.status_code == 200, exported.text
    draft = exported.text
    assert "## Timeline" in draft
    assert "rolled back deploy 4812, errors falling" in draft
    assert "hunter2" not in draft
    kinds = [e.kind for e in world.events(incident.id)]
    assert kinds[0] == "declared"
    assert {"channel_created", "paged", "escalated", "acknowledged", "resolved"} <= set(kinds)
    no_token = world.http.get(f"{world.server.url}/api/v1/incidents/{incident.id}/postmortem")
    assert no_token.status_code == 401


def test_after_bob_acks_alices_card_is_updated_in_place(
        world: TeamsWorld, clock: FakeClock) -> None:
    world.say("alice", DECLARE)
    [incident] = world.incidents()
    [alice_page] = world.wait(lambda: world.pages("alice"))
    clock.advance(timedelta(seconds=31))
    world.firebell.tick()
    [bob_page] = world.wait(lambda: world.pages("bob"))
    world.invoke("bob", "ack", {"incident": incident.id}, conversation=bob_page.path.split("/")[1])
    activity = alice_page.path.removesuffix("/activities")
    updates = world.wait(lambda: [s for s in world.microsoft.sent
                                  if s.method == "PUT" and s.path.startswith(activity)],
                         timeout=5)
    card = updates[0].body["attachments"][0]["content"]
    assert "actions" not in card and "Acknowledged by Bob Brandt" in card_words(card)


def test_the_declare_form_declares_a_privacy_incident_in_a_private_channel(
        world: TeamsWorld) -> None:
    opened = world.say("bob", "incident declare")  # no words: the form, as a card
    assert "Declare an incident" in opened
    answer = card_words(world.invoke("bob", "declare", _form()))
    assert answer.startswith("Declared INC-1 (P1)"), answer
    [incident] = world.incidents()
    assert (incident.title, incident.declared_by) == ("Card data leaked to logs", "bob")
    assert "privacy" in incident.flags and incident.security  # private: need-to-know
    channel = world.wait(lambda: [i.channel for i in world.incidents() if i.channel])[0]
    assert world.graph.channels[channel]["membershipType"] == "private"
    bind = world.graph.graph_url + "/users('{}')"
    owner = world.graph.channel_members[channel][0]  # made with the channel, as Graph requires
    assert owner["roles"] == ["owner"] and owner["user@odata.bind"] == bind.format(AAD["bob"])
    world.wait(lambda: bind.format(AAD["alice"]) in [
        m["user@odata.bind"] for m in world.graph.channel_members[channel]])  # the responder
    assert world.graph.team_members == []  # a private channel's people are not added to the team
    world.wait(lambda: world.pages("alice"))


@pytest.mark.parametrize(("bad", "said"), [
    ({"service": "billing"}, "billing"),
    ({"severity": "apocalyptic"}, "apocalyptic"),
    ({"title": ""}, "title"),
])
def test_the_declare_form_with_bad_data_says_why_and_declares_nothing(
        world: TeamsWorld, bad: dict[str, str], said: str) -> None:
    answer = card_words(world.invoke("bob", "declare", _form(**bad)))
    assert answer.startswith("\u26a0\ufe0f") and said in answer.lower(), answer
    assert world.incidents() == []
    assert world.graph.channels == {} and world.pages("alice") == []
    assert world.to(GENERAL) == []  # no fallback thread either


def test_status_role_and_action_are_cards_to_fill_in_in_the_incident_channel(
        world: TeamsWorld) -> None:
    """Typed bare in the incident's channel (mentioning the bot), `incident status`, `role` and
    `action` answer with the command table's forms as cards; submitted (the submit's data merged
    with the inputs' values, as Teams sends them), each runs the same command Slack users type.
    (Every form, and the live card's buttons: tests/teams/test_teams_forms.py.)"""
    world.say("alice", DECLARE)
    channel = world.wait(lambda: [i.channel for i in world.incidents() if i.channel])[0]
    [incident] = world.incidents()
    thread = f"{channel};messageid=1700000000042"
    forms = {}
    for word in ("status", "role", "action"):
        before = len(world.to(thread))
        activity = message(world.service_url, f"<at>Firebell</at> incident {word}",
                           user=AAD["alice"], conversation=thread, kind="channel",
                           entities=[{"type": "mention", "text": "<at>Firebell</at>",
                                      "mentioned": {"id": f"28:{APP_ID}", "name": "Firebell"}}],
                           channelData={"tenant": {"id": TENANT}, "channel": {"id": channel}})
        assert world.post(activity).status_code == 200
        sent = world.wait(lambda t=thread, b=before: world.to(t)[b:])[0]
        forms[word] = sent.body["attachments"][0]["content"]
    assert [a["verb"] for a in forms["status"]["actions"]] == ["form:incident status"]
    assert {i["id"] for i in forms["role"]["body"] if "id" in i} >= {"role", "person"}
    assert {i["id"] for i in forms["action"]["body"] if "id" in i} >= {"what", "owner", "due"}

    def submit(word: str, values: dict[str, str]) -> dict[str, object]:
        [action] = forms[word]["actions"]
        return world.invoke("alice", action["verb"], {**action["data"], **values},
                            conversation=thread)

    card = submit("status", {"stage": "Identified", "text": "bad deploy > rolled back"})
    assert "Status update posted" in card_words(card)
    [update] = world.events(incident.id, "status_update")
    assert "bad deploy > rolled back" in update.text
    submit("role", {"role": "comms", "person": AAD["erin"]})
    [incident] = world.incidents()
    assert incident.roles.get("comms") == "erin"
