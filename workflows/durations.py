"""Time text the catalog accepts: durations ("5m", "8h business"), days, hours and handoffs.

Parsing lives here, away from the pydantic models, so that the rules (business hours, on-call
rotations) and the catalog read the same words the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from workflows.errors import InvalidRequest

_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_UNIT_WORDS = {
    "s": "s", "sec": "s", "secs": "s", "second": "s", "seconds": "s",
    "m": "m", "min": "m", "mins": "m", "minute": "m", "minutes": "m",
    "h": "h", "hr": "h", "hrs": "h", "hour": "h", "hours": "h",
    "d": "d", "day": "d", "days": "d",
    "w": "w", "wk": "w", "wks": "w", "week": "w", "weeks": "w",
}  # fmt: skip
_PART = re.compile(r"(\d+)\s*([a-z]+)\s*")
_BUSINESS = re.compile(r"\s+business(\s+(hours?|days?|time))?$")

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_SECONDS = 86400


@dataclass(frozen=True)
class Duration:
    """A length of time; when `business` is set only business hours count.

    In a business duration each whole day (24h, `d`) counts as one business day, and a week
    (`w`) as five business days, so "5d business" means five working days, not 120 hours.
    """

    seconds: int
    business: bool = False

    def as_timedelta(self) -> timedelta:
        """The nominal length; a business duration needs `business_time.deadline` instead."""
        return timedelta(seconds=self.seconds)

    def __str__(self) -> str:
        text = format_duration(self.seconds)
        return f"{text} business" if self.business else text


def parse_duration(text: str | int) -> Duration:
    """Read "30s", "5m", "1h30m", "2d", "1w" or "8h business"; an int is a number of seconds."""
    if isinstance(text, bool):
        raise InvalidRequest(f"not a duration: {text!r} (write e.g. 30s, 5m, 1h, 2d, 1w)")
    if isinstance(text, int):
        if text < 0:
            raise InvalidRequest(f"duration must not be negative: {text}")
        return Duration(seconds=text)
    if not isinstance(text, str):
        raise InvalidRequest(f"not a duration: {text!r} (write e.g. 30s, 5m, 1h, 2d, 1w)")
    body = text.strip().lower()
    business = bool(_BUSINESS.search(body))
    body = _BUSINESS.sub("", body).strip()
    if body.isdigit():
        return Duration(seconds=int(body), business=business)
    total, pos = 0, 0
    for match in _PART.finditer(body):
        unit = _UNIT_WORDS.get(match.group(2))
        if match.start() != pos or unit is None:
            break
        total += int(match.group(1)) * (
            5 * DAY_SECONDS if business and unit == "w" else _UNITS[unit]
        )
        pos = match.end()
    if not body or pos != len(body):
        raise InvalidRequest(
            f"not a duration: {text!r} (write e.g. 30s, 5m, 1h, 1h30m, 2d, 1w, or '8h business')"
        )
    return Duration(seconds=total, business=business)


def format_duration(seconds: int) -> str:
    """Write a number of seconds the way the catalog does: 300 -> "5m", 5400 -> "1h30m"."""
    if seconds == 0:
        return "0s"
    sign, rest, parts = ("-" if seconds < 0 else ""), abs(seconds), []
    for unit, size in _UNITS.items():
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{unit}")
    return sign + "".join(parts)


def parse_days(text: str) -> frozenset[int]:
    """Read "Mon-Fri", "Sat,Sun", "Mon-Wed,Fri" or "Fri-Mon" into weekday numbers (Mon = 0)."""
    days: set[int] = set()
    for part in str(text).replace(" ", "").lower().split(","):
        first, _, last = part.partition("-")
        a, b = _weekday(first, text), _weekday(last or first, text)
        days.update((a + i) % 7 for i in range((b - a) % 7 + 1))
    return frozenset(days)


def parse_hours(text: str) -> tuple[int, int]:
    """Read "09:00-17:00" into minutes of the day; an end at or before the start runs overnight.

    "00:00-24:00" is the whole day.
    """
    first, sep, last = str(text).replace(" ", "").partition("-")
    if not sep:
        raise InvalidRequest(f"hours {text!r} must look like '09:00-17:00'")
    start, end = _clock(first, text), _clock(last, text, allow_24=True)
    if start == end:
        raise InvalidRequest(f"hours {text!r} are empty (start equals end)")
    return start, end


def parse_handoff(text: str) -> tuple[int | None, int]:
    """Read "Mon 09:00" or "09:00" into (weekday or None, minute of the day)."""
    if not isinstance(text, str):
        raise InvalidRequest(
            f'handoff {text!r} must be a quoted time like "09:00" or "Mon 09:00" '
            "(YAML reads an unquoted 17:00 as a number)"
        )
    parts = text.split()
    if len(parts) == 1:
        return None, _clock(parts[0], text)
    if len(parts) == 2:
        return _weekday(parts[0], text), _clock(parts[1], text)
    raise InvalidRequest(f"handoff {text!r} must look like 'Mon 09:00' or '09:00'")


def _weekday(word: str, text: str) -> int:
    key = word.strip().lower()[:3]
    if len(word.strip()) < 3 or key not in WEEKDAYS:
        raise InvalidRequest(
            f"unknown day {word!r} in {text!r} (use Mon, Tue, Wed, Thu, Fri, Sat, Sun)"
        )
    return WEEKDAYS.index(key)


def _clock(word: str, text: str, *, allow_24: bool = False) -> int:
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", word)
    if match:
        hour, minute = int(match.group(1)), int(match.group(2))
        if (hour < 24 and minute < 60) or (allow_24 and hour == 24 and minute == 0):
            return hour * 60 + minute
    raise InvalidRequest(f"bad time {word!r} in {text!r} (use 24-hour HH:MM, e.g. 09:00)")
