"""Grafana OnCall's on-call shifts as catalog layers and overrides.

An OnCall shift is an iCal-like event: it starts at `start` (naive, in the shift's `time_zone`,
or UTC when that is empty, which is why OnCall's own handoffs move on the local clock at DST
changes when no zone is set), lasts `duration` seconds and recurs every `interval` x `frequency`;
a `rolling_users` shift hands over to the next group of users at each recurrence. A higher
`level` wins where shifts overlap. Firebell's layer says the same with `every`, `handoff`,
`start`, `members` and one restriction window; the later layer wins. What does not fit is
mapped as closely as possible and noted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from workflows.durations import format_duration

_PERIOD = {"hourly": 3600, "daily": 86400, "weekly": 7 * 86400}
_WEEK = 7 * 86400
_ICAL_DAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
_DAY_NAMES = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


@dataclass
class Mapped:
    """One schedule's shifts, mapped: its zone, layers (bottom first), overrides, and notes."""

    zone: str
    layers: list[dict[str, Any]] = field(default_factory=list)
    layer_notes: list[list[str]] = field(default_factory=list)  # per layer, for comments
    overrides: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # about the schedule as a whole
    by_hand: list[str] = field(default_factory=list)


def map_shifts(
    shifts: list[dict[str, Any]], *, schedule_name: str, schedule_zone: str | None,
    people: dict[str, str], now: datetime,
) -> Mapped:
    """The layers and overrides of one schedule from its OnCall shifts; `people` maps OnCall
    user ids to catalog person ids."""
    recurring = [s for s in shifts if s.get("type") in ("rolling_users", "recurrent_event")]
    zone = _zone_of(recurring, schedule_zone)
    mapped = Mapped(zone=zone)
    if recurring and zone != (schedule_zone or "UTC"):
        why = ("its rotations have no time zone, so OnCall lays them out in UTC and their "
               "handoffs move by an hour on the local clock at DST changes"
               if zone == "UTC" else f"its rotations are set in {zone}")
        mapped.notes.append(f"timezone {zone}, not the schedule's {schedule_zone}: {why}; "
                            "Firebell does the same, so the import agrees with OnCall")
        if zone == "UTC":
            mapped.by_hand.append(f"schedule {schedule_name!r}: rotations laid out in UTC as "
                                  "OnCall does; set the team's zone if handoffs should follow DST")
    names: set[str] = set()
    ordered = sorted(recurring, key=lambda s: (s.get("level") or 0, s.get("start") or ""))
    for shift in ordered:
        layer, notes = _layer(shift, zone=zone, people=people, now=now)
        if layer is None:
            mapped.notes.extend(notes)
            continue
        layer["name"] = _unique(layer["name"], names)
        mapped.layers.append(layer)
        mapped.layer_notes.append(notes)
        if notes:
            mapped.by_hand.append(f"schedule {schedule_name!r}, layer {layer['name']!r}: "
                                  + "; ".join(notes))
    for shift in sorted(shifts, key=lambda s: s.get("start") or ""):
        if shift.get("type") in ("override", "single_event"):
            mapped.overrides += _overrides(shift, zone=zone, people=people, now=now,
                                           notes=mapped.notes)
    kinds = {s.get("type") for s in shifts} - {"rolling_users", "recurrent_event", "override",
                                               "single_event"}
    for kind in sorted(k for k in kinds if k):
        mapped.notes.append(f"shifts of type {kind!r} are not imported")
    return mapped


def _zone_of(recurring: list[dict[str, Any]], schedule_zone: str | None) -> str:
    """The rotations' own zone when they all share one (OnCall lays each out in it), else the
    schedule's."""
    zones = {s.get("time_zone") or "UTC" for s in recurring}
    return zones.pop() if len(zones) == 1 else (schedule_zone or "UTC")


def _layer(shift: dict[str, Any], *, zone: str, people: dict[str, str], now: datetime
           ) -> tuple[dict[str, Any] | None, list[str]]:
    name = str(shift.get("name") or shift.get("id") or "layer")
    notes: list[str] = []
    start = _local(shift, zone)
    until = _until(shift)
    if until is not None and until <= now:
        return None, [f"shift {name!r} ended on {until.date()}: not imported"]
    members = _members(shift, people, notes)
    if not members:
        return None, [f"shift {name!r} has nobody Firebell knows: not imported"]
    frequency = shift.get("frequency")
    interval = int(shift.get("interval") or 1)
    if frequency == "monthly":
        every = 4 * _WEEK * interval
        notes.append(f"OnCall hands over every {interval} month(s); Firebell counts "
                     f"{format_duration(every)}, so handoffs drift from the calendar month")
    elif frequency in _PERIOD:
        every = _PERIOD[frequency] * interval
    else:
        return None, [f"shift {name!r} has no frequency: not imported"]
    if (shift.get("time_zone") or "UTC") != zone:
        notes.append(f"OnCall lays this shift out in {shift.get('time_zone') or 'UTC'}; its "
                     f"start was converted to {zone} on {start.date()} (DST may move it)")
    layer: dict[str, Any] = {"name": name, "every": format_duration(every),
                             "handoff": _handoff(start, every), "start": start.date().isoformat(),
                             "members": members}
    if start.second:
        notes.append(f"handoff at {start.time()} kept to the minute")
    restriction = _restriction(shift, start, every, notes)
    if restriction:
        layer["restrictions"] = restriction
    if until is not None:
        notes.append(f"OnCall ends this rotation on {until.date()}; Firebell layers have no end "
                     "date: remove the layer then")
    rotation_start = shift.get("rotation_start")
    if rotation_start and rotation_start > (shift.get("start") or "") and \
            _as_aware(rotation_start, shift) > now:
        notes.append(f"OnCall starts this rotation on {rotation_start[:10]}; Firebell runs it "
                     "before that date too")
    return layer, notes


def _members(shift: dict[str, Any], people: dict[str, str], notes: list[str]) -> list[str]:
    if shift.get("type") == "rolling_users":
        groups = [list(g or []) for g in shift.get("rolling_users") or []]
    else:
        groups = [list(shift.get("users") or [])]
    if any(len(g) > 1 for g in groups):
        notes.append("OnCall pages several users together in one turn; Firebell's turn is one "
                     "person, the first of each group was kept")
    firsts = [g[0] for g in groups if g]
    unknown = [u for u in firsts if u not in people]
    if unknown:
        notes.append(f"unknown OnCall users left out: {', '.join(unknown)}")
    members = [people[u] for u in firsts if u in people]
    first = int(shift.get("start_rotation_from_user_index") or 0)
    if members and first:
        first %= len(members)
        members = members[first:] + members[:first]
    return members


def _restriction(shift: dict[str, Any], start: datetime, every: int, notes: list[str]
                 ) -> dict[str, str] | None:
    duration = int(shift.get("duration") or every)
    by_day = [d for d in shift.get("by_day") or [] if d in _ICAL_DAYS]
    if duration > every:
        notes.append(f"each turn lasts {format_duration(duration)}, longer than the rotation "
                     f"({format_duration(every)}): overlapping turns were cut at the handoff")
    hours = None
    if duration < every:
        if duration < 86400:
            finish = start + timedelta(seconds=duration)
            hours = f"{start:%H:%M}-{finish:%H:%M}"
        else:
            notes.append(f"each turn lasts {format_duration(duration)} of "
                         f"{format_duration(every)}; Firebell's restrictions are daily hours, "
                         "so the turn covers the whole rotation here (OnCall leaves the rest "
                         "empty)")
    if by_day and shift.get("type") == "rolling_users":
        notes.append("OnCall hands over at each of its by_day occurrences; Firebell hands over "
                     "every `every` whatever the days")
    if not by_day and hours is None:
        return None
    restriction = {"days": _days(by_day) if by_day else "Mon-Sun"}
    restriction["hours"] = hours or "00:00-24:00"
    return restriction


def _overrides(shift: dict[str, Any], *, zone: str, people: dict[str, str], now: datetime,
               notes: list[str]) -> list[dict[str, Any]]:
    start = _as_aware(shift.get("start") or "", shift)
    end = start + timedelta(seconds=int(shift.get("duration") or 0))
    if end <= now:
        return []
    name = shift.get("name") or shift.get("id")
    users = [people[u] for u in shift.get("users") or [] if u in people]
    if not users:
        notes.append(f"override {name!r} names nobody Firebell knows: not imported")
        return []
    if len(users) > 1:
        notes.append(f"override {name!r} names {len(users)} people; Firebell's override is one "
                     f"person, {users[0]} was kept")
    if shift.get("type") == "single_event":
        notes.append(f"one-off shift {name!r} became an override: in Firebell it wins over "
                     "every layer")
    tz = ZoneInfo(zone)
    return [{"person": users[0], "start": start.astimezone(tz).isoformat(),
             "end": end.astimezone(tz).isoformat()}]


def _local(shift: dict[str, Any], zone: str) -> datetime:
    """The shift's start as a naive wall-clock time in `zone`."""
    return _as_aware(shift.get("start") or "", shift).astimezone(ZoneInfo(zone)).replace(
        tzinfo=None)


def _as_aware(text: str, shift: dict[str, Any]) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(shift.get("time_zone") or "UTC"))
    return moment


def _until(shift: dict[str, Any]) -> datetime | None:
    until = shift.get("until")
    return _as_aware(until, shift) if until else None


def _handoff(start: datetime, every: int) -> str:
    clock = f"{start:%H:%M}"
    return f"{_DAY_NAMES[start.weekday()]} {clock}" if every % _WEEK == 0 else clock


def _days(by_day: list[str]) -> str:
    """["MO", "TU", "WE", "FR"] -> "Mon-Wed,Fri"."""
    numbers = sorted({_ICAL_DAYS.index(d) for d in by_day})
    runs: list[list[int]] = []
    for n in numbers:
        if runs and runs[-1][-1] == n - 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return ",".join(_DAY_NAMES[r[0]] if len(r) == 1 else f"{_DAY_NAMES[r[0]]}-{_DAY_NAMES[r[-1]]}"
                    for r in runs)


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name} ({n})"
    taken.add(candidate)
    return candidate
