"""End-to-end stories through the real HTTP server, real Bolt and signed Slack requests.

Slack's Web API is a fake on loopback; time is a fake clock that the tests move, and the due
deadlines are run by hand (`firebell.tick()`), as the scheduler would.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.slack_helpers import Harness, modal_values
from workflows.clock import FakeClock
from workflows.model import State

pytestmark = pytest.mark.slow

START = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)  # a Tuesday; alice is primary, bob secondary
DECLARE = "declare service=checkout severity=critical urgency=high"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def h(tmp_path: Path, clock: FakeClock, database_url: str) -> Iterator[Harness]:
    """On SQLite and, when FIREBELL_TEST_PG_URL is set, on PostgreSQL (conftest's database_url)."""
    harness = Harness(tmp_path, clock=clock, database_url=database_url)
    yield harness
    harness.close()


def _actions(call: Any) -> dict[str, str]:
    """action_id -> value of the (non-URL) buttons in a chat.postMessage call."""
    return {element["action_id"]: element["value"]
            for block in call.params.get("blocks") or [] if block["type"] == "actions"
            for element in block["elements"] if "url" not in element}


PAGE_ACTIONS = ("firebell_ack", "firebell_pass", "firebell_snooze")


def _declare(h: Harness, title: str, *, user: str = "U0BOB") -> tuple[int, str]:
    """Declare with `/incident declare service=...` and return the incident id and channel."""
    before = len(h.fake.calls_to("conversations.create"))
    response, key = h.slack.command("/incident", f"{DECLARE} {title}", user=user)
    assert response.status_code == 200
    [text] = h.fake.wait_for_response(key)
    assert text.startswith("Declared INC-"), text
    # The channel is an effect of its own, performed beside the pages, after the answer.
    created = h.fake.wait_for(lambda: h.fake.calls_to("conversations.create")[before:])[0]
    incident_id = int(text.split()[1].removeprefix("INC-"))
    channel = h.fake.wait_for(
        lambda: [c.channel for c in h.incidents() if c.id == incident_id and c.channel])[0]
    assert created.params["name"].startswith("inc-20261124-")
    return incident_id, channel


def test_declare_through_the_modal_page_escalate_ack_resolve(h: Harness, clock: FakeClock) -> None:
    # The slash command is acknowledged at once, then the form opens.
    response, command_key = h.slack.command("/incident", "declare Checkout down", user="U0BOB")
    assert response.status_code == 200 and response.text == ""
    [opened] = h.fake.wait_for(lambda: h.fake.calls_to("views.open"))
    view = opened.params["view"]
    assert view["callback_id"] == "firebell_declare"
    blocks = {block["block_id"]: block for block in view["blocks"]}
    assert blocks["title"]["element"]["initial_value"] == "Checkout down"
    assert [o["value"] for o in blocks["service"]["element"]["options"]] == ["checkout"]
    assert [o["value"] for o in blocks["severity"]["element"]["options"]] == [
        "critical", "major", "minor"]

    # Bob submits it: a channel, invites, the topic, the welcome, and Alice (primary) is paged.
    submitted = h.slack.view_submission(
        view,  # as views.open showed it
        modal_values(title="Checkout down", service="checkout", description="5xx on /pay"),
        user="U0BOB",
    )
    assert submitted.status_code == 200
    [confirmation] = h.fake.wait_for_response(command_key)
    [created] = h.fake.wait_for(lambda: h.fake.calls_to("conversations.create"))
    assert created.params == {"name": "inc-20261124-1-checkout-down", "is_private": "0"}
    [incident] = h.fake.wait_for(lambda: [i for i in h.incidents() if i.channel])
    channel = incident.channel
    assert confirmation in (f"Declared INC-{incident.id} (P1) in <#{channel}>.",
                            f"Declared INC-{incident.id} (P1); its channel is being created.")
    assert incident.declared_by == "bob" and incident.commander == "bob"

    page_to_alice = h.fake.wait_for(lambda: h.fake.direct_messages("U0ALICE"))
    assert _actions(page_to_alice[0]) == dict.fromkeys(PAGE_ACTIONS, str(incident.id))
    assert h.fake.calls_to("conversations.open", users="U0ALICE")
    h.fake.wait_for(lambda: len(h.fake.calls_to("conversations.invite")) == 2)
    invited = {c.params["users"] for c in h.fake.calls_to("conversations.invite", channel=channel)}
    assert invited == {"U0BOB", "U0ALICE"}
    [topic] = h.fake.calls_to("conversations.setTopic", channel=channel)
    assert topic.params["topic"].startswith("P1 | Investigating | triggered | IC: Bob Brandt")
    welcome, card = h.fake.calls_to("chat.postMessage", channel=channel)[:2]
    assert "Checkout down" in welcome.params["text"]
    assert _actions(welcome) == {}  # what goes stale is on the live card
    assert _actions(card) == dict.fromkeys(
        ("firebell_ack", "firebell_status", "firebell_role", "firebell_escalate",
         "firebell_resolve"), str(incident.id))
    assert card.params["blocks"][0]["type"] == "header"
    [pinned] = h.fake.calls_to("pins.add", channel=channel)
    assert h.fake.direct_messages("U0BOB") == []

    # Nobody acknowledges within 30s: step 2 pages Bob.
    clock.advance(timedelta(seconds=29))
    h.firebell.tick()
    assert h.fake.direct_messages("U0BOB") == []
    clock.advance(timedelta(seconds=2))
    h.firebell.tick()
    [page_to_bob] = h.fake.direct_messages("U0BOB")
    assert "Escalation step 2" in page_to_bob.params["text"]
    assert len(h.fake.direct_messages("U0ALICE")) == 1

    # Bob acknowledges with the button of his page; Alice's late click is told so.
    response, bob_key = h.slack.button("ack", str(incident.id), user="U0BOB", channel="DU0BOB")
    assert response.status_code == 200
    assert h.fake.wait_for_response(bob_key) == [f"You acknowledged INC-{incident.id}."]
    response, alice_key = h.slack.button("ack", str(incident.id), user="U0ALICE", channel="DU0ALICE")
    [late] = h.fake.wait_for_response(alice_key)
    assert late == f":warning: INC-{incident.id} is already acknowledged (by Bob Brandt)"
    assert h.incidents()[0].state == State.ACKNOWLEDGED

    # The acknowledgement stopped the escalation: Erin (step 3) is never paged.
    clock.advance(timedelta(seconds=61))
    h.firebell.tick()
    assert h.fake.direct_messages("U0ERIN") == []

    # Resolve from the incident's channel.
    response, key = h.slack.command("/incident", "resolve", user="U0BOB", channel=channel)
    assert h.fake.wait_for_response(key) == [f"INC-{incident.id} resolved."]
    assert h.incidents()[0].state == State.RESOLVED
    kinds = [e.kind for e in h.events(incident.id)]
    assert kinds[0] == "declared"
    assert {"channel_created", "paged", "escalated", "acknowledged", "resolved"} <= set(kinds)


def test_ack_by_command_and_resolve_button(h: Harness) -> None:
    incident_id, channel = _declare(h, "Database down")
    h.fake.wait_for(lambda: h.fake.direct_messages("U0ALICE"))
    _, key = h.slack.command("/incident", "ack", user="U0ALICE", channel=channel)
    assert h.fake.wait_for_response(key) == [f"You acknowledged INC-{incident_id}."]
    [incident] = h.incidents()
    assert (incident.state, incident.acknowledged_by) == (State.ACKNOWLEDGED, "alice")
    h.fake.wait_for(lambda: any(
        "acknowledged" in c.params["text"] for c in h.fake.calls_to("chat.postMessage", channel=channel)))

    _, key = h.slack.button("resolve", str(incident_id), user="U0ALICE", channel=channel)
    assert h.fake.wait_for_response(key) == [f"INC-{incident_id} resolved."]
    assert h.incidents()[0].state == State.RESOLVED


def test_a_429_from_slack_is_retried_after_retry_after(h: Harness) -> None:
    h.fake.throttle_next("conversations.create", retry_after=1)
    started = time.monotonic()
    _, channel = _declare(h, "Throttled")
    assert h.fake.throttled == ["conversations.create"]
    assert time.monotonic() - started >= 1.0
    assert len(h.fake.calls_to("conversations.create")) == 1
    h.fake.wait_for(lambda: h.fake.calls_to("chat.postMessage", channel=channel))


@pytest.mark.parametrize(
    "forgery", ["bad signature", "stale timestamp", "unsigned", "garbage timestamp"])
def test_forged_or_replayed_requests_get_401_and_change_nothing(h: Harness, forgery: str) -> None:
    forgeries: dict[str, dict[str, Any]] = {
        "bad signature": {"secret": "not-the-secret"},
        "stale timestamp": {"timestamp": int(time.time()) - 5 * 60 - 10},
        "unsigned": {"headers": {"X-Slack-Signature": "", "X-Slack-Request-Timestamp": ""}},
        "garbage timestamp": {"headers": {"X-Slack-Request-Timestamp": "yesterday"}},
    }
    response, key = h.slack.command("/incident", f"{DECLARE} Forged", **forgeries[forgery])
    assert response.status_code == 401
    time.sleep(0.3)
    assert h.fake.calls == [] and h.fake.texts(key) == []
    assert h.incidents() == []


def test_an_unknown_service_in_the_modal_is_a_clear_message(h: Harness) -> None:
    _, key = h.slack.command("/incident", "declare Broken", user="U0BOB")
    [opened] = h.fake.wait_for(lambda: h.fake.calls_to("views.open"))
    h.slack.view_submission(
        opened.params["view"],
        modal_values(title="Broken", service="billing"), user="U0BOB",
    )
    [text] = h.fake.wait_for_response(key)
    assert text == ":warning: unknown service 'billing' (known: checkout)"
    assert h.incidents() == [] and h.fake.calls_to("conversations.create") == []


def test_an_unknown_person_for_a_role_is_a_clear_message(h: Harness) -> None:
    _, channel = _declare(h, "Roles")
    _, key = h.slack.command("/incident", "role commander @nobody", channel=channel)
    [text] = h.fake.wait_for_response(key)
    assert text.startswith(":warning: unknown person '@nobody'") and "alice" in text
    _, key = h.slack.command("/incident", "role scribe <@U0ERIN|erin>", channel=channel)
    assert h.fake.wait_for_response(key) == ["Scribe: Erin Engel."]


def test_a_redelivered_message_event_is_in_the_timeline_once(h: Harness) -> None:
    incident_id, channel = _declare(h, "Chatty")
    message = {"type": "message", "channel": channel, "user": "U0ALICE",
               "text": "rolling back the deploy", "ts": "1764000000.000200",
               "event_ts": "1764000000.000200", "channel_type": "channel"}
    assert h.slack.event(message, event_id="Ev1").status_code == 200
    assert h.slack.event(message, event_id="Ev1", retry=1).status_code == 200
    # A bot's own message and an edit are not people talking.
    h.slack.event({**message, "ts": "1764000000.000300", "bot_id": "B0FIREBELL"}, event_id="Ev2")
    h.slack.event({**message, "ts": "1764000000.000400", "subtype": "message_changed"},
                  event_id="Ev3")
    h.fake.wait_for(lambda: h.events(incident_id, "message"))
    time.sleep(0.5)  # give the redelivery time to be (not) recorded
    [recorded] = h.events(incident_id, "message")
    assert (recorded.text, recorded.actor) == ("rolling back the deploy", "alice")
    assert recorded.source_id == f"{channel}:1764000000.000200"


def test_oncall_by_command_and_by_mention(h: Harness) -> None:
    _, key = h.slack.command("/oncall", "payments")
    [text] = h.fake.wait_for_response(key)
    assert "*payments-primary* (payments): <@U0ALICE>" in text
    assert "*payments-secondary* (payments): <@U0BOB>" in text

    mention = {"type": "app_mention", "channel": "C0GENERAL", "user": "U0ERIN",
               "text": "<@U0FIREBELL> who is on call for checkout?", "ts": "1764000000.000500"}
    assert h.slack.event(mention, event_id="Ev9").status_code == 200
    [answer] = h.fake.wait_for(lambda: h.fake.calls_to("chat.postMessage", channel="C0GENERAL"))
    assert answer.params["thread_ts"] == "1764000000.000500"
    assert "<@U0ALICE>" in answer.params["text"]

    _, key = h.slack.command("/oncall", "nothing-like-this")
    [text] = h.fake.wait_for_response(key)
    assert text.startswith(":warning: no team, service or schedule called 'nothing-like-this'")


def test_help_and_unknown_subcommand(h: Harness) -> None:
    _, key = h.slack.command("/incident", "help")
    assert h.fake.wait_for_response(key)[0].startswith("*/incident*")
    _, key = h.slack.command("/incident", "dance")
    assert h.fake.wait_for_response(key) == [
        ":warning: unknown command '/incident dance'. Try `/incident help`."]


def test_edits_deletions_pins_and_reactions_revise_the_timeline(h: Harness) -> None:
    incident_id, channel = _declare(h, "Edits")
    said = {"type": "message", "channel": channel, "user": "U0ALICE", "ts": "1764000000.000600",
            "text": "cause: bad config in https://git.example/c/1"}
    h.slack.event(said, event_id="Ev20")
    h.fake.wait_for(lambda: h.events(incident_id, "message"))
    h.slack.event({"type": "message", "subtype": "message_changed", "channel": channel,
                   "ts": "1764000000.000700", "hidden": True,
                   "message": {**said, "text": "cause: bad flag", "edited": {"user": "U0ALICE"}}},
                  event_id="Ev21")
    h.fake.wait_for(lambda: h.events(incident_id, "message")[0].text == "cause: bad flag")
    h.slack.event({"type": "pin_added", "user": "U0BOB", "channel_id": channel,
                   "item": {"type": "message", "channel": channel,
                            "message": {"ts": said["ts"], "text": "cause: bad flag"}}},
                  event_id="Ev22")
    h.fake.wait_for(lambda: h.events(incident_id, "pinned"))
    h.slack.event({"type": "reaction_added", "user": "U0BOB", "reaction": "star",
                   "item": {"type": "message", "channel": channel, "ts": said["ts"]}},
                  event_id="Ev23")
    h.fake.wait_for(lambda: h.events(incident_id, "key_moment"))
    assert h.events(incident_id, "pinned")[0].actor == "bob"

    secret = {**said, "ts": "1764000000.000800", "text": "password is hunter2"}
    h.slack.event(secret, event_id="Ev24")
    h.fake.wait_for(lambda: len(h.events(incident_id, "message")) == 2)
    h.slack.event({"type": "message", "subtype": "message_deleted", "channel": channel,
                   "ts": "1764000000.000900", "deleted_ts": secret["ts"], "hidden": True},
                  event_id="Ev25")
    h.fake.wait_for(lambda: h.events(incident_id, "message")[1].data.get("deleted"))
    assert "hunter2" not in str([(e.text, e.data) for e in h.events(incident_id)])


def test_oncall_calendar_gives_a_working_personal_feed(tmp_path: Path) -> None:
    h = Harness(tmp_path, clock=FakeClock(START), public_url="https://firebell.example",
                firebell_calendar_secret="s3cret")
    try:
        _, key = h.slack.command("/oncall", "calendar", user="U0BOB")
        [text] = h.fake.wait_for_response(key)
        url = text.rsplit(" ", 1)[1]
        assert url.startswith("https://firebell.example/calendars/people/bob.ics?token=")
        feed = httpx.get(url.replace("https://firebell.example", h.server.url), timeout=10)
        assert feed.status_code == 200 and "BEGIN:VCALENDAR" in feed.text
    finally:
        h.close()


def test_oncall_calendar_says_when_feeds_are_off(h: Harness) -> None:
    _, key = h.slack.command("/oncall", "calendar", user="U0BOB")
    [text] = h.fake.wait_for_response(key)
    assert text.startswith("Calendar feeds are off")


def test_the_form_can_flag_personal_data_which_starts_its_clocks(h: Harness) -> None:
    response, key = h.slack.command("/incident", "declare Customer emails exposed", user="U0BOB")
    assert response.status_code == 200
    [opened] = h.fake.wait_for(lambda: h.fake.calls_to("views.open"))
    flags = {o["value"] for b in opened.params["view"]["blocks"] if b["block_id"] == "flags"
             for o in b["element"]["options"]}
    assert {"privacy", "security", "compliance", "drill"} <= flags
    values = modal_values(title="Customer emails exposed", service="checkout", flags=("privacy",))
    assert h.slack.view_submission(opened.params["view"], values, user="U0BOB").status_code == 200
    h.fake.wait_for_response(key)
    [incident] = h.incidents()
    assert "privacy" in incident.flags and incident.security  # private channel
    [created] = h.fake.wait_for(lambda: h.fake.calls_to("conversations.create"))
    assert created.params["is_private"] == "1"


def test_after_an_ack_every_page_dm_is_edited_in_place_without_its_button(
        h: Harness, clock: FakeClock) -> None:
    incident_id, _ = _declare(h, "Checkout down")
    h.fake.wait_for(lambda: h.fake.direct_messages("U0ALICE"))
    clock.advance(timedelta(seconds=31))
    h.firebell.tick()
    [bob_page] = h.fake.wait_for(lambda: h.fake.direct_messages("U0BOB"))
    assert _actions(bob_page) == dict.fromkeys(PAGE_ACTIONS, str(incident_id))

    response, key = h.slack.button("ack", str(incident_id), user="U0BOB", channel="DU0BOB")
    assert response.status_code == 200
    h.fake.wait_for_response(key)
    def dm_edits() -> list[Any]:
        return [c for c in h.fake.calls_to("chat.update") if c.params["channel"].startswith("D")]

    edits = h.fake.wait_for(lambda: len(dm_edits()) >= 2 and dm_edits())
    edited = {(c.params["channel"], c.params["ts"]) for c in edits}
    sent = {(dm, h.fake.history[dm][0]["ts"]) for dm in ("DU0ALICE", "DU0BOB")}
    assert sent <= edited
    for call in edits:
        assert "Acknowledged by Bob Brandt" in call.params["text"]
        assert _actions(call) == {}  # no live Acknowledge button is left

    # The live card in the channel is edited in place too: the state, and no Acknowledge.
    [incident] = h.incidents()
    [card] = [c for c in h.fake.calls_to("chat.postMessage", channel=incident.channel)
              if c.params["blocks"][0]["type"] == "header"]
    card_ts = h.fake.history[incident.channel][1]["ts"]

    def card_edits() -> list[Any]:
        return [c for c in h.fake.calls_to("chat.update", channel=incident.channel)
                if c.params["ts"] == card_ts and "Acknowledged by Bob Brandt" in str(c.params)]

    [edit, *_] = h.fake.wait_for(card_edits)
    assert "firebell_ack" not in _actions(edit) and "firebell_status" in _actions(edit)
    assert len([c for c in h.fake.calls_to("chat.postMessage", channel=incident.channel)
                if c.params["blocks"][0]["type"] == "header"]) == 1  # one card, edited
