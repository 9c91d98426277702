"""A mixed organisation: Slack and Teams both on (bot/mixed.py), through real HTTP.

`app.build` with Slack (the Web API on a `FakeSlack`) and Teams (the Bot Connector, Entra and the
OpenID keys on a `FakeMicrosoft`); Graph is off, so a Teams incident channel is a thread in its
team's `teams_channel`. Alice is on both, Bob on Slack only, Erin on Teams only. Payments names a
Slack and a Teams channel, Ledger only a Teams channel. Effects are performed by the dispatcher,
as in `serve`; time is a fake clock and due deadlines are run by hand (`firebell.tick()`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.intake_http import am_body
from tests.support.paths import DEMO_CATALOG
from tests.support.slack_fake import FakeSlack
from tests.support.slack_helpers import BOT_TOKEN, SIGNING_SECRET, SlackSender, ThreadedServer
from tests.teams.fakes import (
    ALICE,
    APP_ID,
    APP_PASSWORD,
    TENANT,
    FakeMicrosoft,
    Sent,
    bot_token,
    message,
)
from workflows.clock import FakeClock
from workflows.model import State

START = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)  # Alice primary, Bob secondary, Erin last
ERIN = "aad-erin-0000-0000-0000-000000000005"
ADMIN = "aad-admin-0000-0000-0000-000000000007"  # who added the app to the teams' channels
PAYMENTS_TEAMS = "19:payments-general@thread.tacv2"
LEDGER_TEAMS = "19:ledger-general@thread.tacv2"
DECLARE = "declare service=checkout severity=critical urgency=high Checkout down"
WEBHOOK_TOKEN = "mixed-webhook-token"
LEDGER = f"""
  - {{id: ledger, name: Ledger, teams_channel: '{LEDGER_TEAMS}', escalation_policy: ledger-default}}
services:
  - {{id: ledger, name: Ledger API, team: ledger, match: {{service: ledger}}}}"""


def mixed_catalog(tmp_path: Path) -> Path:
    text = (DEMO_CATALOG.read_text()
            .replace("slack: U0ALICE,", f"slack: U0ALICE, teams: {ALICE},")
            .replace("slack: U0ERIN,", f"teams: {ERIN},")
            .replace("slack_channel: C0PAYMENTS,",
                     f"slack_channel: C0PAYMENTS, teams_channel: '{PAYMENTS_TEAMS}',")
            .replace("\nservices:", LEDGER, 1)
            .replace("\nescalation_policies:", """
  - id: ledger-primary
    team: ledger
    rotation: {every: 1d, handoff: "09:00", start: "2026-01-05", members: [erin]}

escalation_policies:
  - id: ledger-default
    repeat: 0
    steps:
      - {notify: ["schedule:ledger-primary"], ack_timeout: 30s}""", 1))
    path = tmp_path / "mixed.yaml"
    path.write_text(text)
    return path


class Mixed:
    """Firebell with Slack and Teams on, serving real HTTP."""

    def __init__(self, tmp_path: Path, *, in_teams: tuple[str, ...] = ("alice", "erin")) -> None:
        from app import Settings, build
        from bot.server import build_http_app

        self.clock = FakeClock(START)
        self.slack_fake = FakeSlack().start()
        self.microsoft = FakeMicrosoft().start()
        settings = Settings(
            firebell_config=str(mixed_catalog(tmp_path)),
            database_url=f"sqlite:///{tmp_path / 'firebell.db'}",
            slack_bot_token=BOT_TOKEN, slack_signing_secret=SIGNING_SECRET, slack_app_token=None,
            slack_api_url=self.slack_fake.api_url, twilio_account_sid=None,
            teams_app_id=APP_ID, teams_app_password=APP_PASSWORD, teams_tenant_id=TENANT,
            teams_team_id=None, teams_login_url=self.microsoft.url,
            teams_openid_url=self.microsoft.openid_url, firebell_webhook_token=WEBHOOK_TOKEN,
        )
        self.firebell = build(settings, clock=self.clock)
        self.firebell.dispatcher.start()
        self.server = ThreadedServer(build_http_app(self.firebell)).start()
        self.slack = SlackSender(self.server.url, self.slack_fake)
        self.http = httpx.Client(timeout=10)
        # The app is in both teams' channels and in the 1:1 chats of `in_teams` (Teams told us).
        for channel in (PAYMENTS_TEAMS, LEDGER_TEAMS):
            self.teams(self._installed(user=ADMIN, conversation=channel, kind="channel"))
        for user, name in ((ALICE, "alice"), (ERIN, "erin")):
            if name in in_teams:
                self.teams(self._installed(user=user, conversation=f"a:personal-{name}"))

    def close(self) -> None:
        self.http.close()
        self.slack.close()
        self.server.stop()
        self.firebell.dispatcher.stop(grace=2)
        self.microsoft.stop()
        self.slack_fake.stop()
        self.firebell.store.dispose()

    def _installed(self, **where: Any) -> dict[str, Any]:
        activity = message(self.microsoft.service_url, "", type="conversationUpdate", **where)
        activity.pop("text")
        return activity

    def teams(self, activity: dict[str, Any]) -> httpx.Response:
        token = bot_token(activity["serviceUrl"])
        response = self.http.post(f"{self.server.url}/api/messages", json=activity,
                                  headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.text
        return response

    def incidents(self) -> list[Any]:
        with self.firebell.store.transaction() as tx:
            return list(tx.list_incidents(open_only=False))

    def chat_pages(self, incident_id: int) -> list[Any]:
        with self.firebell.store.transaction() as tx:
            return [p for p in tx.pages(incident_id) if p.channel == "chat"]

    def page_cards(self, conversation: str) -> list[Sent]:
        """Teams page cards (an Acknowledge action) sent into a 1:1 conversation."""
        return [s for s in list(self.microsoft.sent)
                if s.path == f"conversations/{conversation}/activities"
                and '"verb": "ack"' in json.dumps(s.body)]

    def threads(self, teams_channel: str) -> list[Sent]:
        """Conversations (incident threads) opened in a team's Teams channel."""
        return [s for s in list(self.microsoft.sent) if s.path == "conversations"
                and s.body.get("channelData", {}).get("channel", {}).get("id") == teams_channel]

    def escalate(self) -> None:
        """Let the current step's 30 s pass unacknowledged."""
        self.clock.advance(timedelta(seconds=31))
        self.firebell.tick()


def wait(predicate: Callable[[], Any], *, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {predicate}")
        time.sleep(0.02)
    return value


def settled(h: Mixed) -> None:
    """Every effect committed so far has been performed (none pending)."""
    def pending() -> list[Any]:
        with h.firebell.store.transaction(reading=True) as tx:
            return list(tx.pending_effects())

    wait(lambda: not pending())


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Mixed]:
    harness = Mixed(tmp_path)
    yield harness
    harness.close()


def test_declared_from_slack_pages_both_and_an_ack_on_teams_stops_the_slack_escalation(
        h: Mixed) -> None:
    response, key = h.slack.command("/incident", DECLARE, user="U0BOB")
    assert response.status_code == 200
    [answer] = h.slack_fake.wait_for_response(key)
    assert answer.startswith("Declared INC-1 (P1)"), answer
    # The channel is Slack's, where it was declared; no thread is opened in Teams.
    [created] = h.slack_fake.wait_for(lambda: h.slack_fake.calls_to("conversations.create"))
    assert created.params["name"].startswith("inc-20261124-1-")
    [incident] = wait(lambda: [i for i in h.incidents() if i.channel])
    assert incident.channel.startswith("C") and incident.platform == "slack"

    # Alice is on both: one page, delivered as a Slack DM and as a Teams card.
    [dm] = h.slack_fake.wait_for(lambda: h.slack_fake.direct_messages("U0ALICE"))
    assert "Checkout down" in dm.params["text"]
    [card] = wait(lambda: h.page_cards("a:personal-alice"))
    assert "Checkout down" in json.dumps(card.body)
    [page] = wait(lambda: [p for p in h.chat_pages(1) if p.ref])
    refs = dict(part.split("=", 1) for part in page.ref.split())
    assert refs["slack"].startswith("DU0ALICE:")
    assert refs["teams"].startswith("a:personal-alice:")
    assert h.threads(PAYMENTS_TEAMS) == []

    # Alice acknowledges on the Teams card: the incident is hers, on both platforms.
    invoke = message(h.microsoft.service_url, "", type="invoke", name="adaptiveCard/action",
                     conversation="a:personal-alice",
                     value={"action": {"type": "Action.Execute", "verb": "ack",
                                       "data": {"incident": incident.id}}, "trigger": "manual"})
    invoke.pop("text")
    assert "Acknowledged by Alice Doe" in json.dumps(h.teams(invoke).json())
    assert h.incidents()[0].state == State.ACKNOWLEDGED
    settled(h)

    # Step 2 (Bob, on Slack) never comes.
    h.escalate()
    h.escalate()
    settled(h)
    assert h.slack_fake.direct_messages("U0BOB") == []
    assert h.page_cards("a:personal-erin") == []
    assert len(h.chat_pages(1)) == 1


def test_declared_from_teams_gets_a_teams_channel_and_each_person_is_paged_where_they_are(
        h: Mixed) -> None:
    before = len(h.microsoft.sent)
    h.teams(message(h.microsoft.service_url, f"/incident {DECLARE}",
                    conversation="a:personal-alice"))
    answer = wait(lambda: [s for s in h.microsoft.sent[before:]
                           if "Declared INC-1" in str(s.body.get("text"))])
    assert answer[0].path == "conversations/a:personal-alice/activities"

    # Its channel is in Teams (a thread in Payments' channel, Graph being off), not in Slack.
    [thread] = wait(lambda: h.threads(PAYMENTS_TEAMS))
    [incident] = wait(lambda: [i for i in h.incidents() if i.channel])
    assert incident.platform == "teams" and ":" in incident.channel
    assert "inc-20261124-1-" in json.dumps(thread.body)
    settled(h)
    assert h.slack_fake.calls_to("conversations.create") == []
    channel_posts = [s for s in h.microsoft.sent
                     if s.path == f"conversations/{incident.channel}/activities"]
    assert any("Checkout down" in json.dumps(s.body) for s in channel_posts)  # the welcome
    assert [c.params["channel"] for c in h.slack_fake.calls_to("chat.postMessage")] == [
        "DU0ALICE"]  # on Slack, only Alice's page

    # Bob, only on Slack, is paged by a Slack DM and gets no Teams card.
    h.escalate()
    [dm] = h.slack_fake.wait_for(lambda: h.slack_fake.direct_messages("U0BOB"))
    assert "Escalation step 2" in dm.params["text"]
    settled(h)
    assert [s for s in h.microsoft.sent if "bob" in s.path] == []

    # Erin, only on Teams, gets a card in her 1:1 chat and no Slack DM.
    h.escalate()
    [card] = wait(lambda: h.page_cards("a:personal-erin"))
    assert "Escalation step 3" in json.dumps(card.body)
    [erin_page] = wait(lambda: [p for p in h.chat_pages(1) if p.person == "erin" and p.ref])
    assert erin_page.ref.startswith("teams=a:personal-erin:")
    settled(h)
    assert [c for c in h.slack_fake.calls_to("conversations.open")
            if "ERIN" in str(c.params.get("users"))] == []


def test_an_alert_opens_its_channel_on_its_teams_platform(h: Mixed) -> None:
    def alert(service: str, fingerprint: str) -> None:
        response = h.http.post(f"{h.server.url}/webhooks/alertmanager",
                               json=am_body(fingerprint, service=service),
                               headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"})
        assert response.status_code == 200, response.text

    # Ledger names only a Teams channel: its incident's channel is a thread there.
    alert("ledger", "ledger-1")
    [thread] = wait(lambda: h.threads(LEDGER_TEAMS))
    assert "inc-20261124-1-" in json.dumps(thread.body)
    [ledger] = wait(lambda: [i for i in h.incidents() if i.channel])
    assert ledger.platform is None and ledger.team == "ledger" and ":" in ledger.channel
    wait(lambda: h.page_cards("a:personal-erin"))
    settled(h)
    assert h.slack_fake.calls_to("conversations.create") == []

    # Payments names a Slack channel: its alert's incident gets a Slack channel.
    alert("checkout", "checkout-1")
    [created] = h.slack_fake.wait_for(lambda: h.slack_fake.calls_to("conversations.create"))
    assert created.params["name"].startswith("inc-20261124-2-")
    settled(h)
    assert h.threads(PAYMENTS_TEAMS) == []


def test_a_page_that_reaches_one_of_two_platforms_is_sent(tmp_path: Path) -> None:
    """Alice never installed the app in Teams (and Graph, which could install it, is off): her
    page reaches her on Slack and counts as sent, so it neither fails over nor repeats."""
    h = Mixed(tmp_path, in_teams=("erin",))
    try:
        h.slack.command("/incident", DECLARE, user="U0BOB")
        h.slack_fake.wait_for(lambda: h.slack_fake.direct_messages("U0ALICE"))
        [page] = wait(lambda: [p for p in h.chat_pages(1) if p.ref])
        assert page.status.value == "sent" and page.ref.startswith("slack=DU0ALICE:")
        assert " " not in page.ref and page.error is None
        settled(h)
        assert h.page_cards("a:personal-alice") == []
        assert len(h.slack_fake.direct_messages("U0ALICE")) == 1
    finally:
        h.close()
