"""iCalendar (RFC 5545) feeds of on-call shifts, for Google Calendar, Outlook and Apple Calendar.

Events carry local times with a TZID and the matching VTIMEZONE (built by icalendar from the
zone database), so a 09:00 handoff shows at 09:00 on either side of a DST change.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event

from workflows.oncall import Shift

PRODID = "-//Firebell//On-call schedules//EN"


def shifts_calendar(
    *,
    name: str,
    zone: str,
    shifts: Iterable[tuple[str, Shift]],  # (schedule id, shift)
    names: dict[str, str],
    stamp: datetime,
    url: str | None = None,
) -> bytes:
    """A VCALENDAR with one VEVENT per shift, in `zone`, with its VTIMEZONE."""
    tz = ZoneInfo(zone)
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", name)
    calendar.add("x-wr-timezone", zone)
    for schedule, shift in shifts:
        event = Event()
        who = names.get(shift.person, shift.person)
        what = "override" if shift.override else shift.layer
        event.add("uid", _uid(schedule, shift))
        event.add("dtstamp", stamp.astimezone(UTC))
        event.add("dtstart", shift.start.astimezone(tz))
        event.add("dtend", shift.end.astimezone(tz))
        event.add("summary", f"On call: {who} ({schedule})")
        event.add("description", f"{who} is on call for {schedule} ({what}).")
        event.add("categories", ["on-call"])
        event.add("transp", "TRANSPARENT")  # being on call does not make a person busy
        if url:
            event.add("url", url)
        calendar.add_component(event)
    # Transitions around the shifts only: a VTIMEZONE back to 1970 bloats every fetch.
    calendar.add_missing_timezones(
        first_date=date(stamp.year - 2, 1, 1), last_date=date(stamp.year + 3, 1, 1)
    )
    return bytes(calendar.to_ical())


def read_shifts(data: bytes) -> list[tuple[str, datetime, datetime]]:
    """(summary, start, end) of every event, aware and in UTC: what a calendar app would show."""
    calendar = Calendar.from_ical(data)
    return [
        (
            str(event["summary"]),
            event.decoded("dtstart").astimezone(UTC),
            event.decoded("dtend").astimezone(UTC),
        )
        for event in calendar.walk("VEVENT")
    ]


def _uid(schedule: str, shift: Shift) -> str:
    # Stable across fetches, so a calendar app updates an event instead of duplicating it.
    key = f"{schedule}|{shift.person}|{shift.start.isoformat()}|{shift.layer}"
    return hashlib.sha256(key.encode()).hexdigest()[:32] + "@firebell"
