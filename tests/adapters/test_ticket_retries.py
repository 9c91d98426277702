"""Opening a ticket survives a flaky tracker: transient failures (503, 429 with Retry-After, a
hang past the timeout) are retried in place, 4xx are not, a retried create never duplicates the
issue, and an incident whose ticket effect gave up owes one again on the scheduler's poll.
Against a local fake Jira / GitHub over real HTTP (tests/support/tracker_fake.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from adapters.github_issues import GitHubIssues
from adapters.http import RetryPolicy
from adapters.jira import JiraTickets
from app import housekeeping
from storage.store import SqlStore
from tests.support.catalogs import INTAKE
from tests.support.slack_helpers import ThreadedServer
from tests.support.tracker_fake import FakeTracker, Fault
from tests.support.world import World
from workflows.clock import FakeClock
from workflows.context import Context
from workflows.dispatch import drain
from workflows.incident.declare import DeclareRequest, declare
from workflows.intake.tickets import owe_missing_tickets
from workflows.model import Incident
from workflows.outbox import EffectKind
from workflows.ports import ExternalServiceError, TicketPort

FAST = RetryPolicy(attempts=4, backoff=0.01, max_wait=3.0, budget=10.0)
INCIDENT = Incident(title="Checkout down", service="checkout", team="payments", severity="critical",
                    urgency="high", environment="production", priority="P1",
                    declared_at=datetime(2026, 11, 24, 9, 30, tzinfo=UTC), id=12)
SEARCH, CREATE = ("POST", "/rest/api/3/search/jql"), ("POST", "/rest/api/3/issue")
GH_ISSUES = "/repos/acme/ops/issues"


@pytest.fixture
def tracker() -> Iterator[tuple[FakeTracker, str]]:
    fake = FakeTracker()
    running = ThreadedServer(fake.app()).start()
    yield fake, running.url
    running.stop()


def jira(url: str, retry: RetryPolicy = FAST) -> JiraTickets:
    return JiraTickets(url=url, user="bot@acme.example", api_token="tok", project="OPS",
                       timeout=0.5, retry=retry)


def github(url: str, retry: RetryPolicy = FAST) -> GitHubIssues:
    return GitHubIssues(token="ghp", repo="acme/ops", api_url=url, timeout=0.5, retry=retry)


Make = Callable[[str], TicketPort]
SYSTEMS: list[tuple[Make, tuple[str, str], tuple[str, str], str]] = [
    (jira, SEARCH, CREATE, "OPS-1"),
    (github, ("GET", GH_ISSUES), ("POST", GH_ISSUES), "acme/ops#1"),
]


@pytest.mark.parametrize(("make", "look", "create", "key"), SYSTEMS, ids=["jira", "github"])
def test_a_503_then_created_makes_one_ticket(
    tracker: tuple[FakeTracker, str], make: Make, look: tuple[str, str], create: tuple[str, str],
    key: str,
) -> None:
    fake, url = tracker
    fake.fail(*create, Fault(503))
    assert make(url).open_ticket(incident=INCIDENT, body="x") == key
    assert fake.calls(*create) == [503, 201] and len(fake.calls(*look)) == 2  # looked again first
    assert [issue["labels"] for issue in fake.issues if "firebell-inc-12" in issue["labels"]]
    assert len(fake.issues) == 1


@pytest.mark.parametrize(("make", "look", "create", "key"), SYSTEMS, ids=["jira", "github"])
def test_a_create_whose_answer_is_lost_is_found_not_made_again(
    tracker: tuple[FakeTracker, str], make: Make, look: tuple[str, str], create: tuple[str, str],
    key: str,
) -> None:
    fake, url = tracker
    fake.fail(*create, Fault(hang=2.0))  # made, but answered after the client's 0.5 s timeout
    assert make(url).open_ticket(incident=INCIDENT, body="x") == key
    assert len(fake.issues) == 1 and len(fake.calls(*create)) == 1 and len(fake.calls(*look)) == 2


def test_a_429_is_retried_after_the_time_it_asks_for(tracker: tuple[FakeTracker, str]) -> None:
    fake, url = tracker
    fake.fail(*SEARCH, Fault(429, {"Retry-After": "1"}))
    assert jira(url).open_ticket(incident=INCIDENT, body="x") == "OPS-1"
    searches = [(status, at) for m, p, status, at in fake.log if (m, p) == SEARCH]
    assert [status for status, _ in searches] == [429, 200]
    assert searches[1][1] - searches[0][1] >= 0.95  # not the 0.01 s backoff: the vendor's second
    assert len(fake.issues) == 1


def test_a_retry_after_longer_than_the_policy_waits_goes_back_to_the_outbox(
    tracker: tuple[FakeTracker, str],
) -> None:
    fake, url = tracker
    fake.fail(*SEARCH, Fault(429, {"Retry-After": "120"}))
    with pytest.raises(ExternalServiceError) as error:
        jira(url).open_ticket(incident=INCIDENT, body="x")
    assert error.value.retryable and fake.calls(*SEARCH) == [429] and not fake.issues


def test_a_4xx_is_not_retried(tracker: tuple[FakeTracker, str]) -> None:
    fake, url = tracker
    fake.fail(*CREATE, Fault(400))
    with pytest.raises(ExternalServiceError) as error:
        jira(url).open_ticket(incident=INCIDENT, body="x")
    assert not error.value.retryable and fake.calls(*CREATE) == [400] and not fake.issues


def test_retries_are_bounded_and_the_failure_stays_retryable(tracker: tuple[FakeTracker, str]) -> None:
    fake, url = tracker
    fake.fail(*SEARCH, *[Fault(502)] * 10)
    with pytest.raises(ExternalServiceError) as error:
        jira(url).open_ticket(incident=INCIDENT, body="x")
    assert error.value.retryable and fake.calls(*SEARCH) == [502] * FAST.attempts and not fake.issues


# The workflow: declare, the open-ticket effect, the poll ------------------------------------
def world(store: SqlStore, tickets: TicketPort) -> tuple[Context, FakeClock]:
    world = World(store, datetime(2026, 11, 24, 9, 0, tzinfo=UTC), catalog=INTAKE,
                  channels=("chat",), tickets=tickets, reporter=None)
    return world.ctx, world.clock


def _declare(ctx: Context) -> int:
    incident = declare(ctx, DeclareRequest(title="Checkout down", service="checkout",
                                           severity="critical", urgency="high"))
    assert incident.id is not None
    return incident.id


def _ticket(ctx: Context, incident_id: int) -> str | None:
    with ctx.reading() as uow:
        return uow.incidents.get_incident(incident_id).ticket


def test_a_503_at_declare_time_still_gives_the_incident_its_one_ticket(
    store: SqlStore, tracker: tuple[FakeTracker, str],
) -> None:
    fake, url = tracker
    fake.fail(*CREATE, Fault(503))
    fake.fail(*SEARCH, Fault(429, {"Retry-After": "0"}))
    ctx, _ = world(store, jira(url))
    incident_id = _declare(ctx)
    drain(ctx, owner="test")
    assert _ticket(ctx, incident_id) == "OPS-1"
    assert len(fake.issues) == 1 and f"firebell-inc-{incident_id}" in fake.issues[0]["labels"]


def test_the_poll_owes_a_ticket_again_when_the_effect_gave_up(
    store: SqlStore, tracker: tuple[FakeTracker, str],
) -> None:
    fake, url = tracker
    fake.fail(*SEARCH, *[Fault(503)] * 100)  # the tracker is down for a while
    ctx, clock = world(store, jira(url, RetryPolicy(attempts=1)))
    incident_id = _declare(ctx)
    assert owe_missing_tickets(ctx) == 0  # its effect is still pending: nothing to add
    for _ in range(12):  # the outbox retries with backoff, then gives up
        drain(ctx, owner="test")
        clock.advance(timedelta(seconds=61))
    with ctx.reading() as uow:
        assert not [e for e in uow.outbox.pending_effects(incident_id=incident_id)
                    if e.kind == EffectKind.OPEN_TICKET]
        assert "delivery_failed" in [event.kind for event in uow.timeline.events(incident_id)]
    assert _ticket(ctx, incident_id) is None and not fake.issues

    fake.faults.clear()  # the tracker is back
    drain(ctx, owner="test")
    assert _ticket(ctx, incident_id) is None  # nothing owes the ticket any more but the poll
    housekeeping(ctx)
    assert owe_missing_tickets(ctx) == 0  # owed once, pending: the next poll adds nothing
    drain(ctx, owner="test")
    assert _ticket(ctx, incident_id) == "OPS-1" and len(fake.issues) == 1
    clock.advance(timedelta(hours=1))
    housekeeping(ctx)
    drain(ctx, owner="test")
    assert len(fake.issues) == 1
