"""Business time: deadlines skip nights, weekends and public holidays, and survive DST."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from workflows.business_time import add_business_time, deadline, is_business_time
from workflows.catalog.model import BusinessHours
from workflows.durations import parse_duration

BERLIN = ZoneInfo("Europe/Berlin")
OFFICE = BusinessHours(days="Mon-Fri", hours="09:00-17:00", holidays="DE")
ALWAYS = BusinessHours(days="Mon-Sun", hours="00:00-24:00")


def berlin(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN)


def add(hours: BusinessHours, start: datetime, seconds: int) -> datetime:
    return add_business_time(hours, start=start, seconds=seconds, zone="Europe/Berlin")


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (berlin(2026, 1, 5, 9), True),  # Monday opening
        (berlin(2026, 1, 5, 8, 59), False),
        (berlin(2026, 1, 5, 17), False),  # the end is exclusive
        (berlin(2026, 1, 10, 12), False),  # Saturday
        (berlin(2026, 12, 25, 12), False),  # Christmas Day, a Friday
        (berlin(2026, 12, 24, 12), True),  # Christmas Eve is a working day in Germany
        (datetime(2026, 7, 1, 7, 30, tzinfo=UTC), True),  # 09:30 CEST
    ],
)
def test_is_business_time(at, expected):
    assert is_business_time(OFFICE, at=at, zone="Europe/Berlin") is expected


def test_over_a_weekend():
    assert add(OFFICE, berlin(2026, 1, 9, 16, 30), 3600) == berlin(2026, 1, 12, 9, 30)


def test_outside_hours_starts_counting_at_opening():
    assert add(OFFICE, berlin(2026, 1, 10, 3), 1800) == berlin(2026, 1, 12, 9, 30)
    assert add(OFFICE, berlin(2026, 1, 5, 7), 8 * 3600) == berlin(2026, 1, 5, 17)


def test_over_christmas_holidays_and_a_weekend():
    # Thu 24th 16:00-17:00, then Fri 25th (holiday), the weekend, and Mon 28th 09:00-16:00.
    assert add(OFFICE, berlin(2026, 12, 24, 16), 8 * 3600) == berlin(2026, 12, 28, 16)


def test_regional_holidays():
    bavaria = BusinessHours(holidays="DE-BY")  # Epiphany, 6 January, is a holiday in Bavaria only
    assert not is_business_time(bavaria, at=berlin(2026, 1, 6, 12), zone="Europe/Berlin")
    assert is_business_time(OFFICE, at=berlin(2026, 1, 6, 12), zone="Europe/Berlin")


def test_across_dst_changes():
    # Friday before the spring change: 16:00-17:00, then Monday 09:00-10:00 (now CEST).
    result = add(OFFICE, berlin(2026, 3, 27, 16), 2 * 3600)
    assert result == berlin(2026, 3, 30, 10)
    assert result.astimezone(UTC) == datetime(2026, 3, 30, 8, tzinfo=UTC)
    # Around the clock: 24 real hours are 25 on the wall clock in March, 23 in October.
    assert add(ALWAYS, berlin(2026, 3, 28, 12), 24 * 3600) == berlin(2026, 3, 29, 13)
    assert add(ALWAYS, berlin(2026, 10, 24, 12), 24 * 3600) == berlin(2026, 10, 25, 11)


def test_overnight_hours():
    nights = BusinessHours(days="Mon-Fri", hours="22:00-06:00")
    assert is_business_time(
        nights, at=berlin(2026, 1, 6, 3), zone="Europe/Berlin"
    )  # Monday's night
    assert not is_business_time(nights, at=berlin(2026, 1, 5, 3), zone="Europe/Berlin")  # Sunday's
    assert add(nights, berlin(2026, 1, 5, 12), 9 * 3600) == berlin(2026, 1, 6, 23)


def test_result_is_in_the_start_zone():
    start = datetime(2026, 1, 9, 15, 30, tzinfo=UTC)  # 16:30 Berlin
    result = add(OFFICE, start, 3600)
    assert result.tzinfo is UTC and result == datetime(2026, 1, 12, 8, 30, tzinfo=UTC)


def test_deadline_business_and_wall_clock():
    monday = berlin(2026, 1, 5, 10)

    def due(text: str, start: datetime = monday) -> datetime:
        return deadline(OFFICE, start=start, duration=parse_duration(text), zone="Europe/Berlin")

    assert due("8h business") == berlin(2026, 1, 6, 10)
    assert due("5d business") == berlin(2026, 1, 12, 10)  # five working days
    assert due("1w business") == berlin(2026, 1, 12, 10)
    assert due("5m") == monday + timedelta(minutes=5)
    # Wall-clock durations are real time: 01:30 + 1h on the spring change is 03:30 CEST.
    assert due("1h", berlin(2026, 3, 29, 1, 30)) == berlin(2026, 3, 29, 3, 30)


def test_refuses_naive_and_negative():
    with pytest.raises(ValueError, match="timezone-aware"):
        add(OFFICE, datetime(2026, 1, 5, 10), 60)
    with pytest.raises(ValueError, match="negative"):
        add(OFFICE, berlin(2026, 1, 5, 10), -1)
