"""Business time: when a team works, and deadlines that count only working hours.

All arithmetic is done on UTC instants; zones only place the windows ("09:00-17:00" local), so
a deadline is right across DST changes, weekends and public holidays.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays as holiday_data

from workflows.catalog.model import BusinessHours
from workflows.durations import DAY_SECONDS, Duration

Window = tuple[datetime, datetime]


def is_business_time(hours: BusinessHours, *, at: datetime, zone: str) -> bool:
    """Whether `at` falls inside business hours (holidays excluded) in `zone`."""
    _aware(at)
    windows = time_windows(
        days=hours.weekdays,
        window=hours.window,
        zone=zone,
        start=at,
        end=at + timedelta(seconds=1),
        holidays=hours.holidays,
    )
    return any(a <= at < b for a, b in windows)


def next_opening(hours: BusinessHours, *, at: datetime, zone: str) -> datetime:
    """When the next window of `hours` opens after `at` (holidays skipped), in `at`'s zone.

    A window that is open at `at` does not count: this is for a moment outside the hours."""
    _aware(at)
    now = at.astimezone(UTC)
    for opens, _closes in _windows_from(hours, zone=zone, start=now):
        if opens > now:
            return opens.astimezone(at.tzinfo)
    raise ValueError(f"business hours {hours.days} {hours.hours} never open")  # pragma: no cover


def add_business_time(
    hours: BusinessHours, *, start: datetime, seconds: int, zone: str
) -> datetime:
    """The moment `seconds` of business time after `start`, skipping nights, weekends, holidays.

    The result is in `start`'s zone. Zero seconds gives `start`, even outside business hours.
    """
    _aware(start)
    if seconds < 0:
        raise ValueError(f"seconds must not be negative (got {seconds})")
    remaining, now = timedelta(seconds=seconds), start.astimezone(UTC)
    if not remaining:
        return start
    for opens, closes in _windows_from(hours, zone=zone, start=now):
        if closes <= now:
            continue
        begin = max(opens, now)
        if remaining <= closes - begin:
            return (begin + remaining).astimezone(start.tzinfo)
        remaining -= closes - begin
        now = closes
    raise ValueError(f"business hours {hours.days} {hours.hours} never open")  # pragma: no cover


def deadline(hours: BusinessHours, *, start: datetime, duration: Duration, zone: str) -> datetime:
    """When a duration that began at `start` runs out: wall-clock, or business time.

    In a business duration each whole day counts as one business day (the length of the
    business-hours window), so "5d business" from Monday morning is the next Monday morning.
    """
    _aware(start)
    if not duration.business:
        return (start.astimezone(UTC) + duration.as_timedelta()).astimezone(start.tzinfo)
    days, rest = divmod(duration.seconds, DAY_SECONDS)
    opens, closes = hours.window
    day_seconds = ((closes - opens) % 1440 or 1440) * 60
    return add_business_time(hours, start=start, seconds=days * day_seconds + rest, zone=zone)


def time_windows(
    *,
    days: frozenset[int],
    window: tuple[int, int],
    zone: str,
    start: datetime,
    end: datetime,
    holidays: str | None = None,
) -> list[Window]:
    """The UTC windows that overlap [start, end): on each local day of `days` (not a holiday)
    from `window[0]` to `window[1]` minutes after midnight; an end <= start runs overnight."""
    tz, found = ZoneInfo(zone), []
    day, last = start.astimezone(tz).date() - timedelta(days=1), end.astimezone(tz).date()
    while day <= last:
        if _open_on(day, days, holidays):
            opens, closes = _window(day, window, tz)
            if closes > start and opens < end:
                found.append((opens, closes))
        day += timedelta(days=1)
    return found


def _windows_from(hours: BusinessHours, *, zone: str, start: datetime) -> Iterator[Window]:
    tz, days, window = ZoneInfo(zone), hours.weekdays, hours.window
    day = start.astimezone(tz).date() - timedelta(days=1)
    for _ in range(3700):  # ten years without a working day means the hours are wrong
        if _open_on(day, days, hours.holidays):
            yield _window(day, window, tz)
        day += timedelta(days=1)


def _open_on(day: date, days: frozenset[int], holidays: str | None) -> bool:
    return day.weekday() in days and (holidays is None or day not in _calendar(holidays))


def _window(day: date, window: tuple[int, int], tz: ZoneInfo) -> Window:
    opens, closes = window
    end_day = day if closes > opens else day + timedelta(days=1)
    return _instant(day, opens, tz), _instant(end_day, closes, tz)


def _instant(day: date, minutes: int, tz: ZoneInfo) -> datetime:
    # Wall-clock position first, then the zone: 09:00 stays 09:00 on either side of a DST change.
    local = datetime.combine(day, time()) + timedelta(minutes=minutes)
    return local.replace(tzinfo=tz).astimezone(UTC)


@lru_cache(maxsize=32)
def _calendar(code: str) -> holiday_data.HolidayBase:
    country, _, region = code.upper().partition("-")
    return holiday_data.country_holidays(country, subdiv=region or None)


def _aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"datetime must be timezone-aware (got {moment.isoformat()})")
