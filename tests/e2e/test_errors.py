"""One error hierarchy: a person is shown what they can fix (a `FirebellError`); anything else is
a defect of ours, logged with its traceback while the person reads a generic message."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.support.slack_helpers import Harness
from workflows.catalog.model import CatalogError, UnknownEntity
from workflows.clock import FakeClock
from workflows.durations import parse_duration
from workflows.model import Stage
from workflows.ports import (
    Conflict,
    ExternalServiceError,
    FirebellError,
    InvalidRequest,
    NotFound,
    SignatureError,
    Unavailable,
)

START = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
DECLARE = "declare service=checkout severity=critical urgency=high"
GENERIC = ":warning: Something went wrong in Firebell; the details are in its log."


def test_every_error_a_person_can_fix_is_a_firebell_error() -> None:
    unknown = UnknownEntity("person", "@zed", ["alice"])
    assert isinstance(unknown, NotFound) and isinstance(unknown, FirebellError)
    assert str(unknown) == "unknown person '@zed' (known: alice)"
    assert isinstance(CatalogError(["firebell.yaml:3: teams[0].id: bad id"]), FirebellError)
    outage = ExternalServiceError("Slack is down", retryable=True)
    assert isinstance(outage, Unavailable) and outage.retryable
    for kind in (NotFound, InvalidRequest, Conflict, Unavailable, SignatureError):
        assert issubclass(kind, FirebellError)
    # What people type is checked by the same parsers as the catalog: a typo is an InvalidRequest.
    with pytest.raises(InvalidRequest, match="not a duration: 'soon'"):
        parse_duration("soon")
    with pytest.raises(InvalidRequest, match="unknown stage 'dancing'"):
        Stage.parse("dancing")


@pytest.fixture
def h(tmp_path: Path, database_url: str) -> Iterator[Harness]:
    harness = Harness(tmp_path, clock=FakeClock(START), database_url=database_url)
    yield harness
    harness.close()


def _declare(h: Harness, title: str) -> tuple[int, str]:
    _, key = h.slack.command("/incident", f"{DECLARE} {title}", user="U0BOB")
    [answer] = h.fake.wait_for_response(key)
    assert answer.startswith("Declared INC-"), answer
    incident_id = int(answer.split()[1].removeprefix("INC-"))
    channel = h.fake.wait_for(
        lambda: [c.channel for c in h.incidents() if c.id == incident_id and c.channel])[0]
    return incident_id, channel


def _failures(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR and r.name.startswith("bot.")]


def test_a_defect_behind_a_slack_command_is_logged_and_the_person_reads_a_generic_message(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """A row no version of Firebell writes (a state that does not exist) makes reading the
    incident fail with a ValueError: that is ours to fix, not the person's typo."""
    incident_id, channel = _declare(h, "Corrupt")
    with h.firebell.store.engine.begin() as connection:
        connection.execute(
            text("UPDATE incidents SET state = 'bogus-state' WHERE id = :id"), {"id": incident_id})
    caplog.set_level(logging.ERROR)

    _, key = h.slack.command("/incident", "ack", user="U0ALICE", channel=channel)

    assert h.fake.wait_for_response(key) == [GENERIC]
    [failure] = _failures(caplog)
    assert failure.exc_info is not None and isinstance(failure.exc_info[1], ValueError)
    assert "bogus-state" in str(failure.exc_info[1])
    assert "bogus-state" not in " ".join(h.fake.texts(key))


def test_not_found_and_invalid_requests_are_shown_and_not_logged_as_failures(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    incident_id, channel = _declare(h, "Mistakes")
    _, key = h.slack.command("/incident", "ack", user="U0ALICE", channel=channel)
    assert h.fake.wait_for_response(key) == [f"You acknowledged INC-{incident_id}."]
    caplog.set_level(logging.INFO)

    _, key = h.slack.command("/incident", "role commander @nobody", channel=channel)  # NotFound
    [unknown] = h.fake.wait_for_response(key)
    assert unknown.startswith(":warning: unknown person '@nobody'")
    _, key = h.slack.command("/incident", "ack", user="U0ALICE", channel=channel)  # InvalidRequest
    [again] = h.fake.wait_for_response(key)
    assert again.startswith(f":warning: INC-{incident_id} is already acknowledged")

    assert _failures(caplog) == []
