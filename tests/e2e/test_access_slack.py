"""Only people in the catalog act: a stranger in the workspace may ask, not declare, ack, page or
resolve, unless the catalog's `access:` opens a verb to the workspace; the refusal says why.

The stories go through the real HTTP server, real Bolt and signed Slack requests against the fake
Slack Web API; the decision (`workflows.access.may`) on its own is tests/workflows/test_access.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.slack_helpers import DEMO_CATALOG, Harness, modal_values
from workflows.clock import FakeClock
from workflows.model import State

START = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)  # a Tuesday; alice is primary, bob secondary
DECLARE = "declare service=checkout severity=critical urgency=high"
STRANGER = "U0MALLORY"  # in the Slack workspace, not in the catalog


def _refusal(verb: str) -> str:
    return (f":warning: You are not in Firebell's catalog (Slack user {STRANGER}), so you cannot "
            f"{verb}. Ask an on-call engineer, or an admin can add you to the catalog "
            f"(under `people:`, `- {{id: …, name: …, slack: {STRANGER}}}`).")


# the stories, over HTTP -----------------------------------------------------------------------


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def h(tmp_path: Path, clock: FakeClock) -> Iterator[Harness]:
    harness = Harness(tmp_path, clock=clock)
    yield harness
    harness.close()


@pytest.fixture
def open_declare(tmp_path: Path, clock: FakeClock) -> Iterator[Harness]:
    """The demo catalog with `access: {declare: workspace}`: anyone may declare."""
    catalog = tmp_path / "open-declare.yaml"
    catalog.write_text(DEMO_CATALOG.read_text() + "\naccess:\n  declare: workspace\n")
    harness = Harness(tmp_path, clock=clock, catalog=catalog)
    yield harness
    harness.close()


def _say(h: Harness, command: str, text: str, *, user: str = STRANGER,
         channel: str = "C0GENERAL") -> str:
    _, key = h.slack.command(command, text, user=user, channel=channel)
    [answer] = h.fake.wait_for_response(key)
    return answer


def _declared(h: Harness, *, user: str = "U0BOB") -> tuple[int, str]:
    answer = _say(h, "/incident", f"{DECLARE} Checkout down", user=user)
    assert answer.startswith("Declared INC-"), answer
    [incident] = h.fake.wait_for(lambda: [i for i in h.incidents() if i.channel])
    return incident.id, incident.channel


def test_a_stranger_cannot_ack_resolve_page_or_declare_and_nothing_changes(
    h: Harness, clock: FakeClock
) -> None:
    incident_id, channel = _declared(h)
    ref = f"INC-{incident_id}"
    h.fake.wait_for(lambda: h.fake.direct_messages("U0ALICE"))  # step 1 paged Alice
    events = len(h.events(incident_id))

    assert _say(h, "/incident", "ack", channel=channel) == _refusal(f"acknowledge {ref}")
    _, key = h.slack.button("ack", str(incident_id), user=STRANGER, channel=channel)
    assert h.fake.wait_for_response(key) == [_refusal(f"acknowledge {ref}")]
    assert _say(h, "/incident", f"ack {ref}") == _refusal(f"acknowledge {ref}")  # from anywhere
    assert _say(h, "/incident", "resolve", channel=channel) == _refusal(f"resolve {ref}")
    _, key = h.slack.button("resolve", str(incident_id), user=STRANGER, channel=channel)
    assert h.fake.wait_for_response(key) == [_refusal(f"resolve {ref}")]
    assert _say(h, "/incident", "page bob", channel=channel) == _refusal(f"page people for {ref}")
    assert _say(h, "/incident", f"{DECLARE} Also down") == _refusal("declare an incident")
    assert _say(h, "/incident", "declare Also down") == _refusal("declare an incident")
    assert _say(h, "/oncall", "swap payments-primary") == _refusal("change on-call schedules")

    # Nothing changed: still triggered, no new event, no form, no second incident, Bob not paged.
    [incident] = h.incidents()
    assert incident.state == State.TRIGGERED and incident.acknowledged_by is None
    assert len(h.events(incident_id)) == events
    assert h.fake.calls_to("views.open") == []
    assert h.fake.direct_messages("U0BOB") == []

    # The escalation still runs: nobody acknowledged, so step 2 pages Bob after 30 s.
    clock.advance(timedelta(seconds=31))
    h.firebell.tick()
    [page] = h.fake.wait_for(lambda: h.fake.direct_messages("U0BOB"))
    assert "Escalation step 2" in page.params["text"]


def test_a_stranger_submitting_a_declaration_form_is_refused(h: Harness) -> None:
    _, key = h.slack.command("/incident", "declare Checkout down", user="U0BOB")
    [opened] = h.fake.wait_for(lambda: h.fake.calls_to("views.open"))
    h.slack.view_submission(opened.params["view"],
                            modal_values(title="Checkout down", service="checkout"), user=STRANGER)
    assert h.fake.wait_for_response(key) == [_refusal("declare an incident")]
    assert h.incidents() == [] and h.fake.calls_to("conversations.create") == []


def test_a_stranger_may_ask(h: Harness) -> None:
    incident_id, channel = _declared(h)
    oncall = _say(h, "/oncall", "payments")
    assert "*payments-primary* (payments): <@U0ALICE>" in oncall
    assert _say(h, "/incident", "help").startswith("*/incident*")
    assert f"INC-{incident_id}" in _say(h, "/incident", "list")
    assert _say(h, "/incident", "status", channel=channel).startswith(f"INC-{incident_id} P1")
    assert "Checkout down" in _say(h, "/incident", "timeline", channel=channel)


def test_opening_declare_to_the_workspace_lets_a_stranger_declare_but_not_ack(
    open_declare: Harness,
) -> None:
    h = open_declare
    incident_id, channel = _declared(h, user=STRANGER)
    [incident] = h.incidents()
    assert incident.declared_by == STRANGER
    h.fake.wait_for(lambda: h.fake.direct_messages("U0ALICE"))

    _, key = h.slack.command("/incident", "declare Another one", user=STRANGER)
    h.fake.wait_for(lambda: h.fake.calls_to("views.open"))  # the form opens for them too

    assert _say(h, "/incident", "ack", channel=channel) == _refusal(f"acknowledge INC-{incident_id}")
    assert h.incidents()[0].state == State.TRIGGERED
    assert _say(h, "/incident", "ack", user="U0ALICE", channel=channel) == (
        f"You acknowledged INC-{incident_id}.")
    assert h.incidents()[0].state == State.ACKNOWLEDGED
