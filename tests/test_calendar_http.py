"""Calendar feeds and the hours CSV over the real HTTP server: secret-token URLs only."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import icalendar
import pytest

from app import Settings, build
from bot.calendars import calendar_token, person_feed_url
from bot.server import build_http_app
from tests.slack_helpers import ThreadedServer
from workflows.clock import FakeClock

ROOT = Path(__file__).resolve().parent.parent
SECRET = "calendar-secret"
API = "api-token"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        firebell_config=str(ROOT / "examples" / "firebell.yaml"),
        database_url=f"sqlite:///{tmp_path / 'firebell.db'}",
        firebell_calendar_secret=SECRET, firebell_api_token=API,
    )
    firebell = build(settings, clock=FakeClock(datetime(2026, 11, 24, 9, 0, tzinfo=UTC)))
    running = ThreadedServer(build_http_app(firebell)).start()
    yield running.url
    running.stop()
    firebell.store.dispose()


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
