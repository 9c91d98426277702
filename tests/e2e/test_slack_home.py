"""The App Home through the real HTTP server and signed Slack requests: published when opened
(`app_home_opened`), published again when an incident of the person changes, and its buttons.

Slack's Web API is the loopback fake, which refuses a home view beyond Slack's limits.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.slack.home import home_view
from tests.support.slack_fake import TEAM
from tests.support.slack_helpers import Harness
from workflows.clock import FakeClock
from workflows.home import Home, HomeIncident, HomeShift, OnCallLine
from workflows.model import State

pytestmark = pytest.mark.slow

START = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)  # a Tuesday; alice primary, bob secondary
DECLARE = "declare service=checkout severity=critical urgency=high"


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path, clock=FakeClock(START), firebell_calendar_secret="s3cret",
                      public_url="https://firebell.example")
    yield harness
    harness.close()


def open_home(h: Harness, user: str, *, tab: str = "home") -> None:
    response = h.slack.event({"type": "app_home_opened", "user": user, "channel": f"D{user}",
                              "tab": tab, "event_ts": f"{time.time():.6f}"},
                             event_id=f"Ev{user}{tab}{time.monotonic_ns()}")
    assert response.status_code == 200


def home_action(h: Harness, user: str, element: dict[str, Any]) -> None:
    """A click on a control of the user's published home, as Slack sends it."""
    action = {"type": element["type"], "action_id": element["action_id"], "block_id": "b1",
              "action_ts": f"{time.time():.6f}"}
    if element["type"] == "button":
        action["value"] = element["value"]
    else:  # a static_select: the first option is picked
        action["selected_option"] = element["options"][0]
    response = h.slack.interactive({
        "type": "block_actions", "team": {"id": TEAM}, "user": {"id": user},
        "api_app_id": "A0FIREBELL", "trigger_id": f"trigger.home.{time.monotonic_ns()}",
        "container": {"type": "view", "view_id": "V1"},
        "view": {"id": "V1", "type": "home"}, "actions": [action],
    })
    assert response.status_code == 200


def text_of(view: dict[str, Any]) -> str:
    found = []
    for block in view["blocks"]:
        found.append((block.get("text") or {}).get("text", ""))
        found += [e.get("text", "") for e in block.get("elements") or [] if "text" in e
                  and isinstance(e["text"], str)]
    return "\n".join(found)


def controls(view: dict[str, Any]) -> list[dict[str, Any]]:
    """Every button and select of a view (actions blocks and section accessories)."""
    found = []
    for block in view["blocks"]:
        found += [e for e in block.get("elements") or [] if "action_id" in e]
        if "accessory" in block:
            found.append(block["accessory"])
    return found


def published(h: Harness, user: str) -> list[dict[str, Any]]:
    return [call.params["view"] for call in h.fake.calls_to("views.publish", user_id=user)]


def wait_for_home(h: Harness, user: str, *, count: int = 1, has: str = "",
                  lacks: str | None = None) -> dict[str, Any]:
    def latest() -> dict[str, Any] | None:
        views = published(h, user)
        if len(views) < count:
            return None
        view = views[-1]
        text = text_of(view)
        return view if has in text and (lacks is None or lacks not in text) else None

    return h.fake.wait_for(latest)  # type: ignore[no-any-return]


def declare(h: Harness) -> int:
    response, key = h.slack.command("/incident", f"{DECLARE} Checkout down", user="U0BOB")
    assert response.status_code == 200
    [text] = h.fake.wait_for_response(key)
    return int(text.split()[1].removeprefix("INC-"))


def test_opening_the_home_publishes_it_with_shifts_on_call_and_the_calendar(h: Harness) -> None:
    open_home(h, "U0BOB", tab="messages")  # the Messages tab is not the home
    open_home(h, "U0ALICE")
    view = wait_for_home(h, "U0ALICE", has="Nothing open that concerns you")
    assert view["type"] == "home"
    text = text_of(view)
    assert "Firebell · Alice Doe" in text
    # Her next shifts: payments-primary, on now, in her zone (Berlin).
    assert "*payments-primary* (Payments, rotation)  *(now)*\nTue 24 Nov 10:30 → " in text
    # Who is on call for her team: herself on primary, Bob on secondary, as mentions.
    assert "*Payments* · payments-primary: <@U0ALICE>" in text
    assert "*Payments* · payments-secondary: <@U0BOB>" in text
    by_id = {c["action_id"]: c for c in controls(view)}
    assert by_id["firebell.home.calendar"]["url"].startswith(
        "https://firebell.example/calendars/people/alice.ics?token=")
    assert {"firebell.home.declare", "firebell.home.swap", "firebell.home.cover"} <= set(by_id)
    assert published(h, "U0BOB") == []


def test_a_stranger_is_told_how_to_get_in(h: Harness) -> None:
    open_home(h, "U0STRANGER")
    view = wait_for_home(h, "U0STRANGER", has="not in Firebell's catalog")
    assert controls(view) == []


def test_the_home_shows_the_incident_and_is_published_again_after_the_ack(h: Harness) -> None:
    incident_id = declare(h)
    channel = h.fake.wait_for(
        lambda: [i.channel for i in h.incidents() if i.id == incident_id and i.channel])[0]
    # Erin is only in the team's policy (step 3, not paged yet): she opens her home and sees
    # the team's P1 there.
    open_home(h, "U0ERIN")
    erin = wait_for_home(h, "U0ERIN", has=f"INC-{incident_id}")
    assert "you: your team" in text_of(erin)

    # Alice was paged: the incident change published her home already, with its Acknowledge.
    alice = wait_for_home(h, "U0ALICE", has=f"*INC-{incident_id} · P1 · Checkout down* · "
                          f"<#{channel}>")
    assert "Triggered · Investigating · Checkout API · commander Bob Brandt" in text_of(alice)
    assert "you: paged" in text_of(alice)
    [ack] = [c for c in controls(alice) if c["action_id"] == "firebell_ack"]
    assert ack["value"] == str(incident_id)
    before = len(published(h, "U0ALICE"))

    # She clicks it on her home: acknowledged, told in a DM, and her home published again.
    home_action(h, "U0ALICE", ack)
    told = h.fake.wait_for(lambda: [c for c in h.fake.calls_to("chat.postMessage",
                                                                 channel="U0ALICE")])
    assert told[0].params["text"] == f"You acknowledged INC-{incident_id}."
    again = wait_for_home(h, "U0ALICE", count=before + 1, has="Acknowledged by Alice Doe")
    assert "firebell_ack" not in {c["action_id"] for c in controls(again)}
    assert h.incidents()[0].state == State.ACKNOWLEDGED
    # Bob (declared it, commander) sees the new state too.
    wait_for_home(h, "U0BOB", has="Acknowledged by Alice Doe")


def test_a_new_role_holder_sees_the_incident_on_her_home(h: Harness) -> None:
    incident_id = declare(h)
    response, key = h.slack.command("/incident", f"role INC-{incident_id} comms @erin",
                                    user="U0BOB")
    assert response.status_code == 200
    h.fake.wait_for_response(key)
    view = wait_for_home(h, "U0ERIN", has="you: communications lead")
    assert f"INC-{incident_id}" in text_of(view)


def test_declare_button_opens_the_declaration_form(h: Harness) -> None:
    open_home(h, "U0BOB")
    view = wait_for_home(h, "U0BOB")
    [declare_button] = [c for c in controls(view) if c["action_id"] == "firebell.home.declare"]
    home_action(h, "U0BOB", declare_button)
    [opened] = h.fake.wait_for(lambda: h.fake.calls_to("views.open"))
    assert opened.params["view"]["callback_id"] == "firebell_declare"


def test_swap_and_cover_buttons_offer_the_shift_to_the_team(h: Harness) -> None:
    open_home(h, "U0ALICE")
    view = wait_for_home(h, "U0ALICE")
    by_id = {c["action_id"]: c for c in controls(view)}
    swap = by_id["firebell.home.swap"]
    assert swap["confirm"]["confirm"]["text"] == "Offer it"  # Slack asks before it is sent
    home_action(h, "U0ALICE", swap)
    told = h.fake.wait_for(lambda: h.fake.calls_to("chat.postMessage", channel="U0ALICE"))
    assert told[0].params["text"] == "Asked Payments to take your shift (offer 1)."
    offer = h.fake.wait_for(lambda: h.fake.calls_to("chat.postMessage", channel="C0PAYMENTS"))
    assert "Take it" in str(offer[0].params["blocks"])

    home_action(h, "U0ALICE", by_id["firebell.home.cover"])  # "Cover me for 1h"
    told = h.fake.wait_for(lambda: h.fake.calls_to("chat.postMessage", channel="U0ALICE")[1:])
    assert told[0].params["text"] == "Asked Payments to cover you (offer 2)."


def test_a_crowded_home_stays_within_slacks_limits() -> None:
    now = START
    long = "x" * 5000
    home = Home(
        person="alice", name=long, known=True, at=now, zone="Europe/Berlin",
        incidents=tuple(HomeIncident(
            id=n, ref=f"INC-{n}", title=long, priority="P1", state=State.TRIGGERED,
            stage="Investigating", service=long, channel="C0123456", declared_at=now,
            why=("paged",), commander=long) for n in range(1, 80)),
        shifts=tuple(HomeShift(schedule=f"s{n}", team=long, start=now + timedelta(days=n),
                               end=now + timedelta(days=n, hours=8), layer="rotation",
                               override=False, current=False) for n in range(40)),
        on_call=tuple(OnCallLine(team=long, schedule=f"s{n}", now=("alice",),
                                 next_at=now, next_people=("bob",)) for n in range(60)),
        on_call_now=tuple(f"s{n}" for n in range(40)),
    )
    view = home_view(home, calendar_url="https://firebell.example/calendars/people/alice.ics")
    blocks = view["blocks"]
    assert len(blocks) <= 100
    for block in blocks:
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000
        for element in [*(block.get("elements") or []), block.get("accessory") or {}]:
            assert len(element.get("value") or "") <= 2000
            assert len(element.get("options") or []) <= 100
            assert all(len(o["text"]["text"]) <= 75 for o in element.get("options") or [])
    assert "… and 54 more" in text_of(view)  # the incidents beyond the first 25 are counted
