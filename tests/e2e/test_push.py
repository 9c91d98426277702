"""Push pages, end to end: the real `PushPager` against a fake ntfy and a fake Pushover on
loopback, and the ntfy app's action button and Pushover's callback coming back into the real
HTTP server on signed URLs. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from app import Settings
from bot.push import ack_token, read_ack_token
from bot.startup import push_line
from tests.support.ntfy_fake import FakeNtfy
from tests.support.push_app import ALICE_TOPIC, BOB_KEY, CALLBACK_SECRET, CATALOG, PushApp
from tests.support.pushover_fake import FakePushover
from workflows.catalog.load import load_catalog
from workflows.incident.respond import acknowledge
from workflows.model import PageStatus, State


@pytest.fixture
def ntfy() -> Iterator[FakeNtfy]:
    with FakeNtfy() as fake:
        yield fake


@pytest.fixture
def pushover() -> Iterator[FakePushover]:
    with FakePushover(users=(BOB_KEY,)) as fake:
        yield fake


@pytest.fixture
def world(tmp_path: Path, database_url: str, ntfy: FakeNtfy,
          pushover: FakePushover) -> Iterator[PushApp]:
    world = PushApp(tmp_path, database_url, ntfy=ntfy, pushover=pushover)
    yield world
    world.close()


def test_a_p2_pushes_to_the_ntfy_topic_with_an_acknowledge_action(world: PushApp) -> None:
    incident_id = world.declare()  # P2: channels [push]; Alice is primary
    [push] = world.ntfy.messages(ALICE_TOPIC)
    assert push.title == f"Paged: INC-{incident_id} (P2) Checkout is down"
    assert push.priority == 4  # high: P1 is 5 (urgent)
    assert push.tags[0] == "warning"
    assert "You are paged for" in push.message and "Acknowledge within 15m" in push.message
    [action] = push.actions
    assert action["action"] == "http" and action["label"] == "Acknowledge"
    assert action["method"] == "POST" and action["clear"] is True
    assert action["url"].startswith(f"{world.url}/push/ack/")
    [page] = world.pages(incident_id)
    assert (page.person, page.channel, page.status) == ("alice", "push", PageStatus.SENT)
    assert page.ref == f"ntfy:{push.id}"
    if push.click is not None:  # a link into the incident channel, when it was made before
        assert push.click.startswith("https://slack.com/app_redirect?channel=")


def test_pressing_acknowledge_on_the_push_stops_the_escalation(world: PushApp) -> None:
    incident_id = world.declare()
    [push] = world.ntfy.messages(ALICE_TOPIC)
    pressed = world.ntfy.press(push, "Acknowledge")
    assert pressed.status_code == 200 and pressed.text.startswith(f"Acknowledged INC-{incident_id}")
    assert world.state(incident_id) == State.ACKNOWLEDGED
    with world.firebell.store.transaction() as tx:
        assert tx.get_incident(incident_id).acknowledged_by == "alice"
    # Past every step's timeout nobody else is paged: Bob (step 2) gets nothing.
    world.advance(minutes=16)
    assert world.summary(incident_id) == [("alice", "push", PageStatus.ACKNOWLEDGED)]
    assert world.pushover.messages() == []
    # Pressed again (a second phone): it says so and changes nothing.
    again = world.ntfy.press(push, "Acknowledge")
    assert again.status_code == 409 and "already acknowledged" in again.text


def test_without_the_press_the_escalation_goes_on(world: PushApp) -> None:
    """The other side of the story above: the press is what stopped it."""
    incident_id = world.declare()
    world.advance(minutes=6)
    assert ("bob", "push", PageStatus.SENT) in world.summary(incident_id)
    [to_bob] = world.pushover.messages(BOB_KEY)
    assert to_bob.priority == 1 and "callback" not in to_bob.form  # P2: high, no emergency
    # The incident channel exists by now: the push opens it (ntfy's Click, Pushover's url).
    assert to_bob.form["url"].startswith("https://slack.com/app_redirect?channel=")


def _forged(url: str, *, later: datetime) -> list[str]:
    """The page's link tampered with every way: a changed signature, signed with another secret,
    no signature, another person's payload under this signature, garbage."""
    base, token = url.rsplit("/", 1)
    payload, signature = token.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    claim = read_ack_token(CALLBACK_SECRET, token, now=later - timedelta(hours=1))
    assert claim is not None
    other_secret = ack_token("not-the-secret", page=claim.page, incident_id=claim.incident_id,
                             person=claim.person, expires=later)
    as_bob = ack_token(CALLBACK_SECRET + "x", page=claim.page, incident_id=claim.incident_id,
                       person="bob", expires=later).split(".")[0]
    return [f"{base}/{payload}.{flipped}", f"{base}/{other_secret}", f"{base}/{payload}",
            f"{base}/{as_bob}.{signature}", f"{base}/garbage"]


def test_a_forged_or_expired_link_is_refused_and_changes_nothing(world: PushApp) -> None:
    incident_id = world.declare()
    [push] = world.ntfy.messages(ALICE_TOPIC)
    [action] = push.actions
    for url in _forged(action["url"], later=world.clock.now() + timedelta(hours=2)):
        answer = httpx.post(url, timeout=10)
        assert answer.status_code == 403, url
    # Signed with the right secret, but expired.
    [page] = world.pages(incident_id)
    assert page.id is not None
    expired = ack_token(CALLBACK_SECRET, page=page.id, incident_id=incident_id, person="alice",
                        expires=world.clock.now() - timedelta(seconds=1))
    assert httpx.post(f"{world.url}/push/ack/{expired}", timeout=10).status_code == 403
    assert world.state(incident_id) == State.TRIGGERED
    assert "acknowledged" not in world.kinds(incident_id)
    # The real link still works, until it expires a day after the page.
    world.clock.advance(timedelta(hours=24, seconds=1))
    assert httpx.post(action["url"], timeout=10).status_code == 403
    world.clock.advance(timedelta(hours=-24, seconds=-2))
    assert world.ntfy.press(push, "Acknowledge").status_code == 200


def test_ntfy_down_falls_over_to_chat_at_once(world: PushApp) -> None:
    world.ntfy.down = True
    incident_id = world.declare()
    # Tried a few times (503: ntfy did not take it), then failed; chat is tried now, not later.
    assert len(world.ntfy.requests) == 3
    pages = world.summary(incident_id)
    assert ("alice", "push", PageStatus.FAILED) in pages
    assert ("alice", "chat", PageStatus.SENT) in pages
    assert "page_failover" in world.kinds(incident_id)
    assert world.slack.calls_to("chat.postMessage", channel="U0ALICE") or \
        world.slack.direct_messages("U0ALICE")
    [push] = [p for p in world.pages(incident_id) if p.channel == "push"]
    assert "ntfy answered 503" in (push.error or "")


def test_a_refused_ntfy_token_fails_at_once_and_falls_over(
    tmp_path: Path, database_url: str, pushover: FakePushover
) -> None:
    with FakeNtfy(token="tk_right") as ntfy:
        world = PushApp(tmp_path, database_url, ntfy=ntfy, pushover=pushover,
                        ntfy_token="tk_wrong")
        try:
            incident_id = world.declare()
            assert len(ntfy.requests) == 1  # a 401 is final: not tried again
            assert ntfy.requests[0][2]["authorization"] == "Bearer tk_wrong"
            [push] = [p for p in world.pages(incident_id) if p.channel == "push"]
            assert push.status == PageStatus.FAILED and "401" in (push.error or "")
            assert ("alice", "chat", PageStatus.SENT) in world.summary(incident_id)
        finally:
            world.close()


def test_pushover_p1_is_an_emergency_whose_callback_acknowledges(world: PushApp) -> None:
    incident_id = world.declare(severity="critical", service="salaries")  # P1, Bob
    [sent] = world.pushover.messages(BOB_KEY)
    assert sent.priority == 2
    assert (sent.form["retry"], sent.form["expire"]) == ("60", "3600")
    assert sent.form["callback"].startswith(f"{world.url}/push/ack/")
    assert sent.form["title"] == f"Paged: INC-{incident_id} (P1) Checkout is down"
    [push] = [p for p in world.pages(incident_id) if p.channel == "push"]
    assert push.ref == f"pushover:receipt:{sent.receipt}" and push.status == PageStatus.SENT

    answer = world.pushover.acknowledge(sent)
    assert answer is not None and answer.status_code == 200
    assert world.state(incident_id) == State.ACKNOWLEDGED
    with world.firebell.store.transaction() as tx:
        assert tx.get_incident(incident_id).acknowledged_by == "bob"


def test_an_ack_elsewhere_stops_the_pushover_emergency_repeating(world: PushApp) -> None:
    incident_id = world.declare(severity="critical", service="salaries")
    [sent] = world.pushover.messages(BOB_KEY)
    assert not sent.cancelled
    acknowledge(world.firebell.ctx, incident_id=incident_id, person="bob")  # e.g. in Slack
    assert sent.cancelled  # POST /1/receipts/{receipt}/cancel.json
    assert ("POST", f"/1/receipts/{sent.receipt}/cancel.json",
            {"token": world.settings.pushover_app_token}) in world.pushover.requests


def test_a_pushover_key_it_refuses_fails_over(world: PushApp) -> None:
    world.pushover.users = {"someoneelse0000000000000000000"}
    incident_id = world.declare(severity="critical", service="salaries")
    [push] = [p for p in world.pages(incident_id) if p.channel == "push"]
    assert push.status == PageStatus.FAILED and "user identifier" in (push.error or "")
    assert ("bob", "chat", PageStatus.SENT) in world.summary(incident_id)


def test_serve_says_at_start_up_what_push_lacks(tmp_path: Path) -> None:
    (tmp_path / "catalog.yaml").write_text(CATALOG)
    catalog = load_catalog(tmp_path / "catalog.yaml")

    def line(**values: Any) -> tuple[int, str]:
        return push_line(Settings(_env_file=None, **values), catalog)

    level, text = line()
    # Bob has only a pushover_user: without the app token his pushes cannot go out.
    assert level == logging.WARNING and "PUSHOVER_APP_TOKEN is missing" in text
    assert text.startswith("push: ntfy at https://ntfy.sh")
    assert "no Acknowledge button on pushes (set PUBLIC_URL and FIREBELL_CALLBACK_SECRET)" in text
    level, text = line(pushover_app_token="a", public_url="https://f.example",
                       firebell_callback_secret="s")
    assert level == logging.INFO
    assert text.endswith("Pushover on; Acknowledge links on (POST /push/ack/...)")
