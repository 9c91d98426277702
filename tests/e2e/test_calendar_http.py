"""Calendar feeds and the hours CSV over the real HTTP server: secret-token URLs only."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import icalendar
import pytest
import yaml

from app import Settings, build
from bot.calendars import calendar_token, person_feed_url
from bot.server import build_http_app
from tests.support.paths import ROOT
from tests.support.slack_helpers import ThreadedServer
from workflows.clock import FakeClock

SECRET = "calendar-secret"
API = "api-token"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, FakeClock]]:
    config = yaml.safe_load((ROOT / "examples" / "firebell.yaml").read_text())
    config["schedules"].append({  # a rotation of one: one shift that never ends
        "id": "solo", "team": "payments", "timezone": "America/New_York",
        "rotation": {"every": "1w", "handoff": "Mon 09:00", "start": "2026-01-07",
                     "members": ["erin"]},
    })
    (tmp_path / "firebell.yaml").write_text(yaml.safe_dump(config))
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        firebell_config=str(tmp_path / "firebell.yaml"),
        database_url=f"sqlite:///{tmp_path / 'firebell.db'}",
        firebell_calendar_secret=SECRET, firebell_api_token=API,
    )
    clock = FakeClock(datetime(2026, 11, 24, 9, 0, tzinfo=UTC))
    firebell = build(settings, clock=clock)
    running = ThreadedServer(build_http_app(firebell)).start()
    yield running.url, clock
    running.stop()
    firebell.store.dispose()


@pytest.fixture
def server(served: tuple[str, FakeClock]) -> str:
    return served[0]


def _events(url: str) -> dict[str, tuple[datetime, datetime]]:
    """UID -> (start, end) of each event of a feed, in UTC."""
    answer = httpx.get(url)
    assert answer.status_code == 200
    events = icalendar.Calendar.from_ical(answer.text).walk("VEVENT")
    found = {str(e["UID"]): (e.decoded("DTSTART").astimezone(UTC), e.decoded("DTEND").astimezone(UTC))
             for e in events}
    assert len(found) == len(events)
    return found


@pytest.mark.parametrize("feed", ["schedule", "person"])
def test_an_event_keeps_its_uid_and_start_when_the_window_moves(
    served: tuple[str, FakeClock], feed: str,
) -> None:
    base, clock = served
    url = (f"{base}/calendars/payments-primary.ics?token="
           f"{calendar_token(SECRET, 'schedule:payments-primary')}" if feed == "schedule"
           else person_feed_url(public_url=base, secret=SECRET, person="alice"))
    first_now = clock.now()
    first = _events(url)
    # 30 days back is a Sunday, inside a weekly turn: the turn starts at its handoff.
    earliest = min(start for start, _ in first.values())
    assert earliest < first_now - timedelta(days=30)
    local = earliest.astimezone(ZoneInfo("Europe/Berlin"))
    assert (local.weekday(), local.hour, local.minute) == (0, 9, 0)
    by_start = {start: uid for uid, (start, _) in first.items()}
    for days in (1, 3, 9):  # the window cuts the same turn elsewhere, then the next one
        clock.advance(timedelta(days=days))
        later = _events(url)
        for uid, (start, _) in later.items():
            if start < first_now + timedelta(days=150):  # inside both windows
                assert by_start.get(start) == uid, (start, uid)
        if feed == "schedule":  # someone is always on call: the window cuts a turn
            assert min(start for start, _ in later.values()) < clock.now() - timedelta(days=30)


def test_a_rotation_of_one_is_one_event_with_a_uid_that_never_changes(
    served: tuple[str, FakeClock],
) -> None:
    base, clock = served
    url = f"{base}/calendars/solo.ics?token={calendar_token(SECRET, 'schedule:solo')}"
    first = _events(url)
    (uid, (start, end)), = first.items()
    # Monday 2026-01-12 09:00 in New York: the first handoff on or after the rotation's start.
    assert start == datetime(2026, 1, 12, 14, 0, tzinfo=UTC)
    for days in (1, 2, 30):
        clock.advance(timedelta(days=days))
        later = _events(url)
        assert [(u, s) for u, (s, _) in later.items()] == [(uid, start)]
        assert later[uid][1] == clock.now() + timedelta(days=180)  # runs to the window's end


def test_schedule_feed_needs_its_token(server: str) -> None:
    url = f"{server}/calendars/payments-primary.ics"
    assert httpx.get(url).status_code == 404
    assert httpx.get(url, params={"token": "guess"}).status_code == 404
    answer = httpx.get(url, params={"token": calendar_token(SECRET, "schedule:payments-primary")})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/calendar")
    calendar = icalendar.Calendar.from_ical(answer.text)
    assert calendar.walk("VTIMEZONE") and calendar.walk("VEVENT")


def test_person_feed_url_works_and_other_people_are_not_reachable_with_it(server: str) -> None:
    url = person_feed_url(public_url=server, secret=SECRET, person="alice")
    answer = httpx.get(url)
    assert answer.status_code == 200
    events = icalendar.Calendar.from_ical(answer.text).walk("VEVENT")
    assert events and all("Alice" in str(e.get("SUMMARY")) or "alice" in str(e.get("SUMMARY")).lower()
                          for e in events)
    assert httpx.get(url.replace("/alice.ics", "/bob.ics")).status_code == 404


def test_hours_csv_is_behind_the_api_token(server: str) -> None:
    url = f"{server}/api/v1/reports/oncall.csv"
    assert httpx.get(url, params={"team": "payments"}).status_code == 401
    answer = httpx.get(url, params={"team": "payments"}, headers={"Authorization": f"Bearer {API}"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    header = answer.text.splitlines()[0]
    assert "person" in header and "business" in header


def test_feeds_are_off_without_the_secret(tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        firebell_config=str(ROOT / "examples" / "firebell.yaml"),
        database_url=f"sqlite:///{tmp_path / 'firebell.db'}",
    )
    firebell = build(settings)
    running = ThreadedServer(build_http_app(firebell)).start()
    try:
        assert httpx.get(f"{running.url}/calendars/payments-primary.ics").status_code == 404
    finally:
        running.stop()
        firebell.store.dispose()
