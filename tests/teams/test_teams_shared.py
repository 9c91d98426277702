"""The stories Slack and Teams share, run over both front-ends through real HTTP: signed Slack
requests into Bolt with Slack's Web API faked (tests/support/slack_helpers.py), and signed Teams
activities into `/api/messages` with Microsoft faked (tests/teams/story.py).

Each front-end is a small adapter (send a command, press a page's Acknowledge, read the replies
as plain words), so one test function tells each story once. Both run the demo catalog: Alice
primary for payments, Bob secondary, Erin third, 30 s per step.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import pytest

from bot.command_table import TABLE
from bot.teams.cards import to_teams
from tests.support.paths import DEMO_CATALOG
from tests.support.slack_helpers import Harness
from tests.teams.story import TeamsWorld, card_words
from workflows.catalog.load import load_catalog
from workflows.clock import FakeClock
from workflows.model import State

pytestmark = pytest.mark.slow

START = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)  # a Tuesday: Alice primary, Bob secondary
DECLARE = "declare service=checkout severity=critical urgency=high Checkout down"
STRANGER = "stranger"  # a person the catalog does not know, on either platform


def plain(text: str) -> str:
    """Words as a person reads them, whichever the platform's markup: bold, code and escapes
    dropped, emoji as characters."""
    return html.unescape(to_teams(text)).replace("**", "")


class FrontEnd(Protocol):
    clock: FakeClock

    def command(self, person: str, command: str, text: str) -> str:
        """`/<command> <text>` from `person` (a catalog id, or STRANGER); the reply's words."""
        ...

    def pages(self, person: str) -> list[Any]:
        """The pages with an Acknowledge button `person` got by chat."""
        ...

    def press_ack(self, person: str, incident_id: int) -> str:
        """`person` presses Acknowledge on their page; what they are told."""
        ...

    def user_id(self, person: str) -> str: ...

    def incidents(self) -> list[Any]: ...

    def tick(self) -> None: ...

    def close(self) -> None: ...


class SlackFront:
    """Slash commands and block_actions, signed; replies through the response_url."""

    def __init__(self, tmp_path: Path, clock: FakeClock, database_url: str) -> None:
        self.clock = clock
        self.h = Harness(tmp_path, clock=clock, database_url=database_url)
        self.names = {f"<@{p.slack}>": p.name for p in load_catalog(self.h.settings.firebell_config).people}

    def user_id(self, person: str) -> str:
        return "U0NOBODY" if person == STRANGER else f"U0{person.upper()}"

    def _read(self, texts: list[str]) -> str:
        text = "\n".join(texts)
        for mention, name in self.names.items():
            text = text.replace(mention, name)
        return plain(text)

    def command(self, person: str, command: str, text: str) -> str:
        response, key = self.h.slack.command(f"/{command}", text, user=self.user_id(person))
        assert response.status_code == 200
        return self._read(self.h.fake.wait_for_response(key))

    def pages(self, person: str) -> list[Any]:
        return [call for call in self.h.fake.direct_messages(self.user_id(person))
                if "firebell_ack" in str(call.params.get("blocks"))]

    def press_ack(self, person: str, incident_id: int) -> str:
        user = self.user_id(person)
        response, key = self.h.slack.button("ack", str(incident_id), user=user, channel=f"D{user}")
        assert response.status_code == 200
        return self._read(self.h.fake.wait_for_response(key))

    def incidents(self) -> list[Any]:
        return self.h.incidents()

    def tick(self) -> None:
        self.h.firebell.tick()

    def close(self) -> None:
        self.h.close()


class TeamsFront:
    """Messages in a 1:1 chat with the bot and Action.Execute invokes, signed (JWT); replies
    through the Bot Connector, card actions answered with the refreshed card."""

    def __init__(self, tmp_path: Path, clock: FakeClock, database_url: str) -> None:
        self.clock = clock
        self.world = TeamsWorld(tmp_path, clock=clock, database_url=database_url)

    def user_id(self, person: str) -> str:
        from tests.teams.story import AAD

        return "aad-stranger-0000-0000-000000000009" if person == STRANGER else AAD[person]

    def command(self, person: str, command: str, text: str) -> str:
        who = person if person != STRANGER else self.user_id(person)
        return plain(self.world.say(who, f"{command} {text}"))

    def pages(self, person: str) -> list[Any]:
        return self.world.pages(person)

    def press_ack(self, person: str, incident_id: int) -> str:
        [page] = self.world.wait(lambda: self.pages(person))
        card = self.world.invoke(person, "ack", {"incident": incident_id},
                                 conversation=page.path.split("/")[1])
        assert "actions" not in card  # the refreshed card has no live button
        return plain(card_words(card))

    def incidents(self) -> list[Any]:
        return self.world.incidents()

    def tick(self) -> None:
        self.world.firebell.tick()

    def close(self) -> None:
        self.world.close()


FRONT_ENDS: dict[str, Callable[[Path, FakeClock, str], FrontEnd]] = {
    "slack": SlackFront, "teams": TeamsFront}


@pytest.fixture(params=sorted(FRONT_ENDS))
def front(request: pytest.FixtureRequest, tmp_path: Path, database_url: str) -> Iterator[FrontEnd]:
    made: FrontEnd = FRONT_ENDS[request.param](tmp_path, FakeClock(START), database_url)
    yield made
    made.close()


def _wait(found: Any, *, timeout: float = 10.0) -> Any:
    return TeamsWorld.wait(found, timeout=timeout)


def test_oncall_payments_says_who_by_name(front: FrontEnd) -> None:
    assert front.command("alice", "oncall", "payments") == (
        "payments-primary (payments): Alice Doe\npayments-secondary (payments): Bob Brandt")


def test_incident_help_lists_every_command_of_the_table(front: FrontEnd) -> None:
    lines = front.command("alice", "incident", "help").splitlines()
    catalog = load_catalog(str(DEMO_CATALOG))
    expected = [plain(f"{c.usage_line(catalog)} {c.summary}")
                for group in ("incident", "oncall") for c in TABLE if c.words[0] == group]
    headings = [line for line in lines if re.match(r"/\w+ — ", line)]
    assert headings == ["/incident — run an incident",
                        "/oncall — who is on call, and changes to schedules"]
    assert [line for line in lines if line.startswith("/") and line not in headings] == expected


def test_declare_page_ack_by_button_and_no_escalation_after_the_timeout(front: FrontEnd) -> None:
    answer = front.command("bob", "incident", DECLARE)
    found = re.match(r"Declared INC-(\d+) \(P1\)", answer)
    assert found is not None, answer
    incident_id = int(found.group(1))
    _wait(lambda: front.pages("alice"))  # Alice is primary
    assert front.pages("bob") == []

    told = front.press_ack("alice", incident_id)
    assert f"INC-{incident_id}" in told, told  # "You acknowledged INC-1." or the refreshed card
    [incident] = front.incidents()
    assert (incident.state, incident.acknowledged_by) == (State.ACKNOWLEDGED, "alice")

    for _ in range(3):  # past every step's 30 s: nobody else is paged
        front.clock.advance(timedelta(seconds=31))
        front.tick()
    assert front.pages("bob") == [] and front.pages("erin") == []
    assert len(front.pages("alice")) == 1


def test_a_person_not_in_the_catalog_cannot_declare(front: FrontEnd) -> None:
    answer = front.command(STRANGER, "incident", DECLARE)
    assert answer.startswith("\u26a0\ufe0f You are not in Firebell's catalog"), answer
    assert front.user_id(STRANGER) in answer and "cannot declare an incident" in answer
    assert front.incidents() == []
    assert "Alice Doe" in front.command(STRANGER, "oncall", "payments")  # asking stays open


def test_the_paging_report_in_chat_counts_the_page(front: FrontEnd) -> None:
    assert "Nobody was paged." in front.command("alice", "oncall", "pages 7d")
    answer = front.command("bob", "incident", DECLARE)
    assert answer.startswith("Declared INC-"), answer
    _wait(lambda: front.pages("alice"))
    # The page is counted once its delivery is recorded, which commits just after the
    # chat server took the message: ask again until it is (as a person would).
    counted = "Alice Doe: 1 page, 0 at night, 0 acknowledged"
    deadline = time.monotonic() + 10
    while counted not in (report := front.command("alice", "oncall", "pages 7d")):
        assert time.monotonic() < deadline, report
        time.sleep(0.05)
    assert "Bob Brandt" not in report  # not paged: not listed
