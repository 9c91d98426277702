"""iCalendar (RFC 5545) feeds of on-call shifts, for Google Calendar, Outlook and Apple Calendar.

Events carry local times with a TZID and the matching VTIMEZONE, built here from the zone
database, so a 09:00 handoff shows at 09:00 on either side of a DST change. An event's UID
hashes the shift itself (schedule, person, layer and its real start), so it is the same on every
fetch and a calendar app updates the event instead of deleting and re-creating it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, Timezone, TimezoneDaylight, TimezoneStandard

from workflows.oncall.schedules import Shift

PRODID = "-//Firebell//On-call schedules//EN"
# Transitions around the shifts only: a VTIMEZONE back to 1970 bloats every fetch.
ZONE_YEARS_BACK, ZONE_YEARS_AHEAD = 2, 3
_SCAN = timedelta(hours=12)  # no zone changes its offset twice within half a day

_State = tuple[timedelta, timedelta, str]  # UTC offset, the DST part of it, abbreviation


def shifts_calendar(
    *,
    name: str,
    zone: str,
    shifts: Iterable[tuple[str, Shift]],  # (schedule id, shift)
    names: dict[str, str],
    stamp: datetime,
    url: str | None = None,
) -> bytes:
    """A VCALENDAR with one VEVENT per shift, in `zone`, with its VTIMEZONE.

    A shift's `start` must be its real start, not one cut to the feed's window: the UID hashes it.
    """
    tz = ZoneInfo(zone)
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", name)
    calendar.add("x-wr-timezone", zone)
    events = []
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
        events.append(event)
    if any("TZID" in event["dtstart"].params for event in events):  # UTC is written with a Z
        first = datetime(stamp.year - ZONE_YEARS_BACK, 1, 1, tzinfo=UTC)
        last = datetime(stamp.year + ZONE_YEARS_AHEAD, 1, 1, tzinfo=UTC)
        calendar.add_component(vtimezone(zone, first=first, last=last))
    for event in events:
        calendar.add_component(event)
    return bytes(calendar.to_ical())


def vtimezone(zone: str, *, first: datetime, last: datetime) -> Timezone:
    """The VTIMEZONE of `zone` between `first` and `last`, from the zone database.

    Each observance's onsets are local times on the clock *before* the change (RFC 5545: the
    DTSTART of a DAYLIGHT observance is 02:00 for a 02:00 -> 03:00 change), one RDATE per line:
    vobject (and so some clients) reads only the first date of a comma-separated RDATE.
    """
    tz = ZoneInfo(zone)
    opening = _state(tz, first)
    # (daylight?, offset before, offset after, name) -> local onsets; the first observance
    # covers the range's start, so no time in it falls before every onset.
    observances: dict[tuple[bool, timedelta, timedelta, str], list[datetime]] = {
        (bool(opening[1]), opening[0], opening[0], opening[2]): [_local(first, opening[0])],
    }
    for at, before, after in _transitions(tz, first, last):
        key = (bool(after[1]), before[0], after[0], after[2])
        observances.setdefault(key, []).append(_local(at, before[0]))
    component = Timezone()
    component.add("tzid", zone)
    for (daylight, offset_from, offset_to, abbreviation), onsets in observances.items():
        observance = TimezoneDaylight() if daylight else TimezoneStandard()
        observance.add("dtstart", onsets[0])
        for onset in onsets[1:]:
            observance.add("rdate", onset)
        observance.add("tzname", abbreviation)
        observance.add("tzoffsetfrom", offset_from)
        observance.add("tzoffsetto", offset_to)
        component.add_component(observance)
    return component


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


def _state(tz: ZoneInfo, at: datetime) -> _State:
    local = at.astimezone(tz)
    return local.utcoffset() or timedelta(0), local.dst() or timedelta(0), local.tzname() or ""


def _transitions(
    tz: ZoneInfo, first: datetime, last: datetime
) -> Iterable[tuple[datetime, _State, _State]]:
    """(instant in UTC, state before, state after) of each change of the zone in [first, last)."""
    at, state = first, _state(tz, first)
    while at < last:
        following = min(at + _SCAN, last)
        if _state(tz, following) != state:
            low, high = at, following  # the change is in (low, high]: halve to the second
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                low, high = (low, middle) if _state(tz, middle) != state else (middle, high)
            after = _state(tz, high)
            yield high, state, after
            at, state = high, after
        else:
            at = following


def _local(at: datetime, offset: timedelta) -> datetime:
    """The naive wall-clock time of `at` on a clock `offset` from UTC."""
    return (at.astimezone(UTC) + offset).replace(tzinfo=None)


def _uid(schedule: str, shift: Shift) -> str:
    # Stable across fetches, so a calendar app updates an event instead of duplicating it.
    key = f"{schedule}|{shift.person}|{shift.start.isoformat()}|{shift.layer}"
    return hashlib.sha256(key.encode()).hexdigest()[:32] + "@firebell"
