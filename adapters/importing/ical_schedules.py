"""Grafana OnCall's iCal schedules (`ical_url_primary`, `ical_url_overrides`) read into a
catalog schedule.

OnCall reads who is on call from each event of the calendar: the event's SUMMARY (less a
"[L1]" priority prefix), DESCRIPTION and single ATTENDEE each name a user by username or email;
a higher priority wins where events overlap, and the overrides calendar wins over the primary.
Firebell lays out rotations itself, so:
- a primary calendar that is exactly one rotation (one user per event, each event repeating
  `FREQ=WEEKLY` or `FREQ=DAILY` every N turns with nothing else, the N events back to back, all
  started by now) becomes one layer;
- anything else is expanded (RRULE, RDATE, EXDATE, moved instances) for the next 90 days and
  imported as overrides on an empty schedule, primary events first (a later override wins in
  Firebell, as the higher priority and the overrides calendar do in OnCall), with a note to
  import again before the 90 days are over.
Occurrences keep the event's local clock (TZID) at DST changes, and so does their end: a week
from Monday 10:00 ends the next Monday at 10:00.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from dateutil.rrule import rrulestr
from icalendar import Calendar, vRecur

from workflows.durations import format_duration

EXPAND_DAYS = 90
_PRIORITY = re.compile(r"^\s*\[L(\d+)\]\s*")
_DAY = timedelta(days=1)
_WEEK = timedelta(days=7)
_DAY_NAMES = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
_ICAL_DAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]


class CalendarReader:
    """Plain GETs of calendar URLs. The OnCall token goes only to the OnCall API's own origin
    (OnCall's own iCal exports); a calendar elsewhere (Google, Outlook) is fetched without it,
    and httpx drops it on a redirect to another origin."""

    def __init__(self, *, api_url: str, token: str,
                 transport: httpx.BaseTransport | None = None) -> None:
        self._origin = _origin(api_url)
        self._token = token
        self._client = httpx.Client(timeout=httpx.Timeout(30.0, connect=10.0),
                                    follow_redirects=True, transport=transport)

    def read(self, url: str) -> Calendar | str:
        """The parsed calendar, or why it could not be read (one line)."""
        target = re.sub(r"^webcal://", "https://", url.strip(), flags=re.IGNORECASE)
        headers = {"Authorization": self._token} if _origin(target) == self._origin else {}
        try:
            answer = self._client.get(target, headers=headers)
            answer.raise_for_status()
            return Calendar.from_ical(answer.content)
        except httpx.HTTPStatusError as error:
            return f"HTTP {error.response.status_code}"
        except httpx.HTTPError as error:
            return f"{type(error).__name__}: {error}".rstrip(": ")
        except ValueError as error:  # not iCalendar
            return f"not an iCalendar file ({str(error).splitlines()[0] if str(error) else '?'})"

    def close(self) -> None:
        self._client.close()


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or {"http": 80, "https": 443}.get(
        scheme)


@dataclass
class IcalMapped:
    """One iCal schedule: its zone (None: the catalog's), layers, overrides and the report."""

    zone: str | None = None
    layers: list[dict[str, Any]] = field(default_factory=list)
    overrides: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)
    by_hand: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Occurrence:
    rank: tuple[int, int]  # (0 primary / 1 overrides calendar, priority): the higher wins
    start: datetime
    end: datetime
    person: str


@dataclass
class People:
    """OnCall users by username and by email (lower case), as catalog person ids."""

    by_username: dict[str, str]
    by_email: dict[str, str]

    @classmethod
    def of(cls, users: list[dict[str, Any]], person_ids: dict[str, str]) -> People:
        known = [(u, person_ids[u["id"]]) for u in users if u["id"] in person_ids]
        return cls({u["username"]: p for u, p in known if u.get("username")},
                   {u["email"].lower(): p for u, p in known if u.get("email")})

    def find(self, name: str) -> str | None:
        name = re.sub(r"^mailto:", "", name.strip(), flags=re.IGNORECASE)
        return self.by_username.get(name) or self.by_email.get(name.lower())


def map_ical(primary: Calendar | None, overrides: Calendar | None, *, schedule_name: str,
             urls: tuple[str | None, str | None], people: People, now: datetime) -> IcalMapped:
    """The layers and overrides of one schedule from its calendars (None: none, or unread)."""
    mapped = IcalMapped()
    until = now + timedelta(days=EXPAND_DAYS)
    zones: Counter[str] = Counter()
    found: list[_Occurrence] = []
    for kind, calendar in enumerate((primary, overrides)):
        if calendar is None:
            continue
        zone = _calendar_zone(calendar)
        try:
            layer = _exact_layer(calendar, zone=zone, people=people, now=now) if kind == 0 \
                else None
        except (ValueError, TypeError, KeyError, AttributeError):
            layer = None  # not a plain rotation: expanded below, where what is wrong is said
        if layer is not None:
            mapped.layers.append(layer[0])
            mapped.zone = layer[1]  # the rotation's zone is the schedule's
            continue
        problems: list[str] = []
        occurrences = _expand(calendar, zone=zone, since=now, until=until, problems=problems)
        mapped.unmapped += [f"schedule {schedule_name!r}: {p} (in {urls[kind]})"
                            for p in problems]
        for event, start, end in occurrences:
            person = _person(event, people, url=urls[kind], schedule_name=schedule_name,
                             report=mapped.unmapped)
            if person is None:
                continue
            found.append(_Occurrence((kind, _priority(event)), start, end, person))
            if (key := getattr(start.tzinfo, "key", None)) is not None:
                zones[key] += 1
    if zones and mapped.zone is None:
        mapped.zone = zones.most_common(1)[0][0]
    tz = ZoneInfo(mapped.zone or "UTC")
    found = sorted(set(found), key=lambda o: (o.rank, o.start, o.end, o.person))
    mapped.overrides = [{"person": o.person, "start": o.start.astimezone(tz).isoformat(),
                         "end": o.end.astimezone(tz).isoformat()} for o in found]
    if len({o.rank for o in found}) > 1:
        mapped.notes.append("overrides in OnCall's order of precedence: the primary calendar's "
                            "by priority ([L0], then [L1] ...), then the overrides calendar's, "
                            "each by start; in Firebell the later override wins")
    clashes = sorted({o.start.astimezone(tz).date().isoformat() for o, p in _pairs(found)
                      if o.rank == p.rank and o.person != p.person and p.start < o.end})
    if clashes:
        text = (f"calendar events of the same priority overlap with different people (on "
                f"{', '.join(clashes[:3])}{' ...' if len(clashes) > 3 else ''}): OnCall pages "
                "them all, Firebell the later override")
        mapped.notes.append(text)
        mapped.by_hand.append(f"schedule {schedule_name!r}: {text}")
    if primary is not None and not mapped.layers:
        last = (until - _DAY).date()
        mapped.notes.append(
            f"expanded from iCal for {EXPAND_DAYS} days from {now.date()}: run the import again "
            f"before {last}, or write layers by hand")
        mapped.by_hand.append(
            f"schedule {schedule_name!r}: its iCal events are overrides until {last} (not a "
            "plain weekly or daily rotation); write layers by hand or import again before then")
    return mapped


def _pairs(found: list[_Occurrence]) -> list[tuple[_Occurrence, _Occurrence]]:
    """Each occurrence with the next of the same rank (sorted by start)."""
    return [(a, b) for a, b in zip(found, found[1:], strict=False) if a.rank == b.rank]


def _priority(event: Any) -> int:
    found = _PRIORITY.match(str(event.get("SUMMARY") or ""))
    return int(found[1]) if found else 0


def _names(event: Any) -> list[str]:
    """Who an event names, as OnCall reads it: SUMMARY, DESCRIPTION, the single ATTENDEE."""
    names = [_PRIORITY.sub("", str(event.get(key) or ""), count=1).strip()
             for key in ("SUMMARY", "DESCRIPTION")]
    attendee = event.get("ATTENDEE")
    if attendee is not None and not isinstance(attendee, list):
        names.append(str(attendee).strip())
    return [n for n in names if n]


def _person(event: Any, people: People, *, url: str | None, schedule_name: str,
            report: list[str]) -> str | None:
    names = _names(event)
    for name in names:
        if (person := people.find(name)) is not None:
            return person
    line = (f"schedule {schedule_name!r}: iCal event {names[0] if names else '(empty)'!r} in "
            f"{url} names nobody OnCall knows (by username or email): not imported")
    if line not in report:
        report.append(line)
    return None


def _calendar_zone(calendar: Calendar) -> tzinfo:
    """Where floating and all-day times are: X-WR-TIMEZONE, else UTC."""
    name = str(calendar.get("X-WR-TIMEZONE") or "UTC")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _local(value: date | datetime, tz: tzinfo, clock: time = time()) -> datetime:
    """A DATE or DATE-TIME as a naive wall-clock time in `tz`."""
    if not isinstance(value, datetime):
        return datetime.combine(value, clock)
    return value.astimezone(tz).replace(tzinfo=None) if value.tzinfo else value


def _values(event: Any, key: str) -> list[date | datetime]:
    """The dates of every RDATE or EXDATE line of an event."""
    found = event.get(key)
    lines = found if isinstance(found, list) else [found] if found is not None else []
    return [d.dt for line in lines for d in line.dts if not isinstance(d.dt, (tuple, timedelta))]


def _timing(event: Any, zone: tzinfo) -> tuple[tzinfo, datetime, timedelta]:
    """The event's zone, its start on that zone's wall clock, and its wall-clock length."""
    start = event.decoded("DTSTART")
    tz = start.tzinfo if isinstance(start, datetime) and start.tzinfo else zone
    local = _local(start, tz)
    if "DTEND" in event:
        length = _local(event.decoded("DTEND"), tz) - local
    elif "DURATION" in event:
        length = event.decoded("DURATION")
    else:
        length = timedelta(0) if isinstance(start, datetime) else _DAY
    return tz, local, length


def _expand(calendar: Calendar, *, zone: tzinfo, since: datetime, until: datetime,
            problems: list[str]) -> list[tuple[Any, datetime, datetime]]:
    """Every occurrence (event, start, end) that ends after `since` and starts before `until`;
    an event that cannot be read is skipped and said in `problems`."""
    events = list(calendar.walk("VEVENT"))
    moved: dict[str, set[datetime]] = {}  # UID -> instances its own VEVENT replaces
    found = []
    for event in sorted(events, key=lambda e: "RECURRENCE-ID" not in e):
        uid = str(event.get("UID") or "")
        try:
            if "RECURRENCE-ID" in event:
                tz, _, _ = _timing(event, zone)
                moved.setdefault(uid, set()).add(
                    _local(event.decoded("RECURRENCE-ID"), tz).replace(tzinfo=tz))
            if "DTSTART" in event and str(event.get("STATUS") or "").upper() != "CANCELLED":
                found += [(event, a, b) for a, b in _occurrences(
                    event, zone=zone, since=since, until=until, skip=moved.get(uid, set()))]
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            # A calendar is written by hand or by any tool: one bad event must not stop the import.
            problems.append(f"iCal event {str(event.get('SUMMARY') or uid)!r} could not be read "
                            f"({type(error).__name__}: {error}): skipped")
    return found


def _occurrences(event: Any, *, zone: tzinfo, since: datetime, until: datetime,
                 skip: set[datetime]) -> list[tuple[datetime, datetime]]:
    tz, first, length = _timing(event, zone)
    if length <= timedelta(0):
        return []
    starts = [first]
    rule = event.get("RRULE")
    if rule is not None and "RECURRENCE-ID" not in event:
        starts = _recurrences(event, rule, tz=tz, first=first,
                              since=_local(since, tz) - length - _DAY,
                              until=_local(until, tz) + _DAY)
    else:
        skip = set()  # a moved instance is itself
    found = []
    for local in starts:
        start, end = local.replace(tzinfo=tz), (local + length).replace(tzinfo=tz)
        if end > since and start < until and start not in skip:
            found.append((start, end))
    return found


def _recurrences(event: Any, rule: Any, *, tz: tzinfo, first: datetime, since: datetime,
                 until: datetime) -> list[datetime]:
    """The starts (naive, wall clock) of a recurring event between `since` and `until`, worked
    out on the wall clock so that DST does not move them; UNTIL, RDATE and EXDATE applied."""
    rules = rule if isinstance(rule, list) else [rule]
    starts: set[datetime] = set()
    for one in rules:
        stop = one.get("UNTIL")
        text = vRecur({k: v for k, v in one.items() if k.upper() != "UNTIL"})
        last = _local(stop[0], tz, clock=time.max) if stop else None
        expanded = rrulestr(text.to_ical().decode(), dtstart=first)
        starts.update(s for s in expanded.between(since, until, inc=True)
                      if last is None or s <= last)
    starts.update(_local(d, tz, first.time()) for d in _values(event, "RDATE"))
    starts.difference_update(_local(d, tz, first.time()) for d in _values(event, "EXDATE"))
    return sorted(s for s in starts if since <= s <= until)


def _exact_layer(calendar: Calendar, *, zone: tzinfo, people: People, now: datetime
                 ) -> tuple[dict[str, Any], str] | None:
    """(the layer, its zone) when the calendar is exactly one rotation Firebell can lay out the
    same way, else None: N events, one known person each, back to back turns of equal length,
    each repeating every N turns (FREQ=WEEKLY or DAILY, nothing else), in one IANA zone, the
    first started by `now` (Firebell runs a rotation both ways from its start)."""
    events = list(calendar.walk("VEVENT"))
    turns: list[tuple[datetime, str]] = []
    shapes = set()
    for event in events:
        rule = event.get("RRULE")
        start = event.decoded("DTSTART") if "DTSTART" in event else None
        if (not isinstance(start, datetime) or getattr(start.tzinfo, "key", None) is None
                or rule is None or isinstance(rule, list)
                or any(k in event for k in ("RDATE", "EXDATE", "RECURRENCE-ID"))):
            return None
        names = [p for p in (people.find(n) for n in _names(event)) if p]
        if len(set(names)) != 1:
            return None
        tz, local, length = _timing(event, zone)
        freq = (rule.get("FREQ") or [""])[0]
        weekday = rule.get("BYDAY") or [_ICAL_DAYS[local.weekday()]]
        if (set(rule) - {"FREQ", "INTERVAL", "WKST", "BYDAY"} or freq not in ("WEEKLY", "DAILY")
                or (freq == "DAILY" and "BYDAY" in rule)
                or [str(d) for d in weekday] != [_ICAL_DAYS[local.weekday()]]):
            return None
        period = _WEEK if freq == "WEEKLY" else _DAY
        shapes.add((str(getattr(tz, "key", "")), period * int((rule.get("INTERVAL") or [1])[0]),
                    length, _priority(event)))
        turns.append((local, names[0]))
    if not turns or len(shapes) != 1:
        return None
    zone_name, cycle, length, _ = shapes.pop()
    turns.sort()
    first = turns[0][0]
    if (cycle != length * len(turns) or length % _DAY or first.second or first.microsecond
            or any(local != first + i * length for i, (local, _) in enumerate(turns))
            or first.replace(tzinfo=ZoneInfo(zone_name)) > now):
        return None
    clock = f"{first:%H:%M}"
    layer = {"name": "iCal rotation", "every": format_duration(int(length.total_seconds())),
             "handoff": f"{_DAY_NAMES[first.weekday()]} {clock}" if length % _WEEK == timedelta(0)
             else clock, "start": first.date().isoformat(), "members": [p for _, p in turns]}
    return layer, zone_name
