"""What responders and stakeholders see, through real HTTP, real Bolt and the fake Web API:
the announcement (one message per incident, edited in place, updates and resolution in its
thread), the page DM's Escalate and Snooze, the reminder's snooze, and "who is on call" asked
in people's words, with choices when a name fits several."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.paths import DEMO_CATALOG
from tests.support.slack_helpers import Harness
from workflows.clock import FakeClock
from workflows.model import State

pytestmark = pytest.mark.slow

START = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)  # alice is primary, bob secondary
DECLARE = "declare service=checkout severity=critical urgency=high"
ANNOUNCE = "C0ANNOUNCE"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def h(tmp_path: Path, clock: FakeClock, database_url: str) -> Iterator[Harness]:
    catalog = yaml.safe_load(DEMO_CATALOG.read_text())
    catalog["announcements"] = {"slack_channel": ANNOUNCE}
    catalog["teams"].append({"id": "platform", "name": "Platform"})
    catalog["services"].append({"id": "payouts", "name": "Payouts", "team": "platform"})
    catalog["schedules"].append({"id": "platform-primary", "team": "platform", "rotation": {
        "every": "1w", "handoff": "09:00", "start": "2026-01-05", "members": ["erin"]}})
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(catalog))
    harness = Harness(tmp_path, clock=clock, catalog=path, database_url=database_url)
    yield harness
    harness.close()


def _declare(h: Harness, words: str = f"{DECLARE} Checkout down", *, user: str = "U0BOB") -> int:
    response, key = h.slack.command("/incident", words, user=user)
    assert response.status_code == 200
    [text] = h.fake.wait_for_response(key)
    assert text.startswith("Declared INC-"), text
    incident_id = int(text.split()[1].removeprefix("INC-"))
    h.fake.wait_for(lambda: [i for i in h.incidents() if i.id == incident_id and i.channel])
    return incident_id


def _top_level(h: Harness, channel: str) -> list[Any]:
    return [c for c in h.fake.calls_to("chat.postMessage", channel=channel)
            if "thread_ts" not in c.params]


def _replies(h: Harness, channel: str) -> list[Any]:
    return [c for c in h.fake.calls_to("chat.postMessage", channel=channel)
            if "thread_ts" in c.params]


def test_a_p1_is_announced_once_and_the_announcement_is_kept_current(h: Harness) -> None:
    incident_id = _declare(h)
    [announcement] = h.fake.wait_for(lambda: _top_level(h, ANNOUNCE))
    assert f"INC-{incident_id}" in announcement.params["text"] or any(
        f"INC-{incident_id}" in str(b) for b in announcement.params["blocks"])
    assert announcement.params["blocks"][0]["type"] == "header"
    assert "Checkout down" in str(announcement.params["blocks"])
    [incident] = [i for i in h.incidents() if i.id == incident_id]
    # A way in: the channel's link as a URL button.
    urls = [e.get("url") for b in announcement.params["blocks"] if b["type"] == "actions"
            for e in b["elements"]]
    assert f"https://slack.com/app_redirect?channel={incident.channel}" in urls
    ts = h.fake.history[ANNOUNCE][0]["ts"]

    # The acknowledgement edits that one message in place.
    _, key = h.slack.button("ack", str(incident_id), user="U0ALICE", channel="DU0ALICE")
    h.fake.wait_for_response(key)
    h.fake.wait_for(lambda: [c for c in h.fake.calls_to("chat.update", channel=ANNOUNCE)
                             if c.params["ts"] == ts and "Acknowledged" in str(c.params)])

    # A status update for stakeholders goes to its thread; an internal one does not.
    _, key = h.slack.command("/incident", f"status {incident_id} identified bad deploy of the "
                             "PSP client", user="U0BOB")
    h.fake.wait_for_response(key)
    _, key = h.slack.command("/incident", f"status {incident_id} monitoring --stakeholders "
                             "Rolled back; payments recover", user="U0BOB")
    [answer] = h.fake.wait_for_response(key)
    assert answer == "Status update posted (also to stakeholders)."
    [reply] = h.fake.wait_for(lambda: _replies(h, ANNOUNCE))
    assert reply.params["thread_ts"] == ts
    assert "Rolled back; payments recover" in reply.params["text"]
    assert "bad deploy" not in str(h.fake.calls_to("chat.postMessage", channel=ANNOUNCE))
    [event] = h.events(incident_id, "status_update")[-1:]
    assert event.data["audience"] == ["internal", "stakeholders"]

    # Resolution: a reply in the thread, the message edited once more — still one message.
    _, key = h.slack.command("/incident", f"resolve {incident_id}", user="U0BOB")
    h.fake.wait_for_response(key)
    h.fake.wait_for(lambda: len(_replies(h, ANNOUNCE)) == 2)
    resolved = _replies(h, ANNOUNCE)[1]
    assert resolved.params["thread_ts"] == ts and "resolved" in resolved.params["text"]
    assert len(_top_level(h, ANNOUNCE)) == 1
    [event] = h.events(incident_id, "announced")
    assert event.text == ANNOUNCE


def test_a_security_incident_is_announced_without_its_details(h: Harness) -> None:
    incident_id = _declare(h, f"{DECLARE} security Card numbers in the logs")
    [announcement] = h.fake.wait_for(lambda: _top_level(h, ANNOUNCE))
    shown = str(announcement.params)
    assert f"INC-{incident_id}" in shown and "restricted" in shown
    assert "Card numbers" not in shown and "Checkout API" not in shown
    assert "app_redirect" not in shown  # no way into a private channel


def test_the_page_dms_escalate_button_pages_the_next_step_now(h: Harness) -> None:
    incident_id = _declare(h)
    [page] = h.fake.wait_for(lambda: h.fake.direct_messages("U0ALICE"))
    assert "Why you: step 1 of 3 of the escalation policy (payments-primary)" in page.params["text"]
    assert h.fake.direct_messages("U0BOB") == []
    _, key = h.slack.button("pass", str(incident_id), user="U0ALICE", channel="DU0ALICE")
    [answer] = h.fake.wait_for_response(key)
    assert answer == "Escalated: paging Bob Brandt."
    h.fake.wait_for(lambda: h.fake.direct_messages("U0BOB"))  # without waiting the 30 s
    [event] = h.events(incident_id, "escalated")
    assert event.actor == "alice" and event.text.startswith("escalated by Alice Doe: step 2")


def test_snooze_delays_the_escalation_on_the_timeline_and_only_so_long(
        h: Harness, clock: FakeClock) -> None:
    incident_id = _declare(h)
    h.fake.wait_for(lambda: h.fake.direct_messages("U0ALICE"))
    _, key = h.slack.button("snooze", str(incident_id), user="U0ALICE", channel="DU0ALICE")
    [answer] = h.fake.wait_for_response(key)
    assert answer.startswith(f"Snoozed the escalation of INC-{incident_id} until")
    [event] = h.events(incident_id, "snoozed")
    assert event.actor == "alice" and event.data["seconds"] == 300

    clock.advance(timedelta(seconds=31))  # the ack timeout passes: no escalation while snoozed
    h.firebell.tick()
    assert h.fake.direct_messages("U0BOB") == []
    clock.advance(timedelta(minutes=5))
    h.firebell.tick()
    h.fake.wait_for(lambda: h.fake.direct_messages("U0BOB"))

    # Snoozes add up to at most 30 minutes per incident.
    for _ in range(5):
        _, key = h.slack.command("/incident", f"snooze {incident_id}", user="U0BOB")
        h.fake.wait_for_response(key)
    _, key = h.slack.command("/incident", f"snooze {incident_id}", user="U0BOB")
    [refused] = h.fake.wait_for_response(key)
    assert refused.startswith(":warning:") and "snoozed for 30m already" in refused


def test_the_update_reminder_can_be_snoozed(h: Harness, clock: FakeClock) -> None:
    incident_id = _declare(h)
    _, key = h.slack.command("/incident", f"ack {incident_id}", user="U0ALICE")
    h.fake.wait_for_response(key)
    clock.advance(timedelta(seconds=61))  # P1 wants an update every minute
    h.firebell.tick()
    [incident] = [i for i in h.incidents() if i.id == incident_id]
    [reminder] = h.fake.wait_for(lambda: [c for c in h.fake.calls_to(
        "chat.postMessage", channel=incident.channel) if "firebell_snooze" in str(c.params)])
    assert "firebell_status" in str(reminder.params["blocks"])
    _, key = h.slack.button("snooze", str(incident_id), user="U0ALICE", channel=incident.channel)
    [answer] = h.fake.wait_for_response(key)
    assert answer == f"Snoozed the update reminders of INC-{incident_id} for 30m."
    reminders = len(h.events(incident_id, "update_reminder"))
    clock.advance(timedelta(minutes=29))
    h.firebell.tick()
    assert len(h.events(incident_id, "update_reminder")) == reminders
    clock.advance(timedelta(minutes=2))
    h.firebell.tick()
    assert len(h.events(incident_id, "update_reminder")) == reminders + 1
    assert h.incidents()[0].state == State.ACKNOWLEDGED


@pytest.mark.parametrize("words", [
    "who's on call for checkout?", "who is on-call for the payments team right now",
    "who do I page about checkout", "who has the pager for Checkout API?",
    "oncall for payments please",
])
def test_who_is_on_call_in_peoples_words(h: Harness, words: str) -> None:
    mention = {"type": "app_mention", "channel": "C0GENERAL", "user": "U0ERIN",
               "text": f"<@U0FIREBELL> {words}", "ts": "1764000000.000500"}
    assert h.slack.event(mention, event_id="Ev1").status_code == 200
    [answer] = h.fake.wait_for(lambda: h.fake.calls_to("chat.postMessage", channel="C0GENERAL"))
    assert "<@U0ALICE>" in answer.params["text"] and "platform-primary" not in answer.params["text"]


def test_a_name_that_fits_several_is_answered_with_the_choices(h: Harness) -> None:
    _, key = h.slack.command("/oncall", "pay")
    [text] = h.fake.wait_for_response(key)
    assert not text.startswith(":warning:")
    assert '"pay" fits several' in text
    assert "`/oncall payments`" in text and "`/oncall payouts`" in text

    _, key = h.slack.command("/oncall", "paymnets")
    [text] = h.fake.wait_for_response(key)
    assert 'Nothing is called "paymnets". Did you mean' in text and "`/oncall payments`" in text

    _, key = h.slack.command("/oncall", "platform")  # one meaning: answered
    [text] = h.fake.wait_for_response(key)
    assert "<@U0ERIN>" in text


def test_a_card_whose_post_slack_took_but_never_answered_is_posted_once(
        h: Harness, clock: FakeClock) -> None:
    """Slack posts the card, then the answer is lost (past the client's timeout): the retry
    finds the card by its key, pins it and edits it; the channel never reads two cards."""
    def is_card(params: dict[str, Any]) -> bool:
        return "card:" in str(params.get("metadata"))

    lost = h.fake.inject("chat.postMessage", where=is_card, accept_then_sleep=16, times=1)
    incident_id = _declare(h)
    lost.wait_arrival()
    [incident] = [i for i in h.incidents() if i.id == incident_id]

    def retried() -> bool:  # the retry waits its backoff on the test's clock
        clock.advance(timedelta(seconds=3))
        h.firebell.dispatcher.kick()
        return bool(h.fake.calls_to("pins.add", channel=incident.channel))

    h.fake.wait_for(retried, timeout=60)
    cards = [c for c in h.fake.calls_to("chat.postMessage", channel=incident.channel)
             if is_card(c.params)]
    assert len(cards) == 1
    _, key = h.slack.command("/incident", f"ack {incident_id}", user="U0ALICE")
    h.fake.wait_for_response(key)
    card_ts = [m["ts"] for m in h.fake.history[incident.channel] if "card:" in str(m.get("metadata"))]
    h.fake.wait_for(lambda: [c for c in h.fake.calls_to("chat.update", channel=incident.channel)
                             if c.params["ts"] == card_ts[0] and "Acknowledged" in str(c.params)])
    assert len([c for c in h.fake.calls_to("chat.postMessage", channel=incident.channel)
                if is_card(c.params)]) == 1
