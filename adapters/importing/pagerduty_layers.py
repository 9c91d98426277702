"""PagerDuty schedule layers as catalog layers: rotation length, handoff, start, restrictions.

PagerDuty gives each layer an instant its first member's turn begins (`rotation_virtual_start`)
and a turn length in seconds; Firebell a length (`every`), a handoff time of day (with a weekday
when turns are whole weeks) and a start date from whose first handoff the turns count. Both
keep a daily or weekly handoff at the same wall-clock time across DST, so a layer maps exactly
when its virtual start is on a whole minute. Restrictions are where the two differ: PagerDuty
allows any number of daily or weekly windows, the catalog one kind of window (some days, the
same hours on each). Whatever cannot be said exactly is mapped as closely as possible, and the
`notes` say what to check.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from workflows.durations import WEEKDAYS, format_duration

DAY, WEEK = 86400, 7 * 86400


@dataclass
class LayerMapping:
    layer: dict[str, Any] | None  # None: nothing left to import
    notes: list[str] = field(default_factory=list)  # comments at the layer
    check: bool = False  # the notes belong in the report's "check by hand"


def map_layer(raw: dict[str, Any], *, name: str, zone: str, members: list[str],
              now: datetime) -> LayerMapping:
    """One PagerDuty schedule layer (members already mapped to person ids, in order)."""
    notes: list[str] = []
    check = False
    end = _time(raw.get("end"))
    if end is not None and end <= now:
        return LayerMapping(None, [f"ended {end.isoformat()} in PagerDuty: not imported"])
    if not members:
        return LayerMapping(None, ["no users PagerDuty could name: not imported"])
    tz = ZoneInfo(zone)
    virtual = _time(raw.get("rotation_virtual_start")) or _time(raw.get("start")) or now
    local = virtual.astimezone(tz)
    length = int(raw.get("rotation_turn_length_seconds") or WEEK)
    if length < 60 or length % 60:
        rounded = max(60, round(length / 60) * 60)
        notes.append(f"PagerDuty turns last {length}s; the catalog counts whole minutes, "
                     f"so turns here last {format_duration(rounded)}")
        length, check = rounded, True
    if local.second or local.microsecond:
        notes.append(f"PagerDuty's turns begin at {local.time().isoformat()}; handoff rounded "
                     "down to the minute")
        check = True
    clock = f"{local.hour:02d}:{local.minute:02d}"
    handoff = f"{WEEKDAYS[local.weekday()].title()} {clock}" if length % WEEK == 0 else clock
    if length % DAY:
        notes.append(f"turns of {format_duration(length)} are counted on the wall clock of "
                     f"{zone}; across a DST change PagerDuty may hand off an hour apart")
        check = True
    start = _time(raw.get("start"))
    if start is not None and start > now:
        notes.append(f"PagerDuty starts this layer {start.isoformat()}; here it applies now "
                     "(the catalog has no layer start)")
        check = True
    if end is not None:
        notes.append(f"PagerDuty ends this layer {end.isoformat()}; the catalog has no layer "
                     "end: remove the layer then")
        check = True
    layer: dict[str, Any] = {"name": name, "every": format_duration(length), "handoff": handoff,
                             "start": local.date().isoformat(), "members": members}
    restriction, restriction_notes = map_restrictions(raw.get("restrictions") or [])
    if restriction is not None:
        layer["restrictions"] = restriction
    if restriction_notes:
        notes += restriction_notes
        check = True
    return LayerMapping(layer, notes, check)


def map_restrictions(restrictions: list[dict[str, Any]]
                     ) -> tuple[dict[str, str] | None, list[str]]:
    """PagerDuty's restrictions as the catalog's one `{days, hours}` window, and what was lost.

    Windows with the same start time and length make one entry (their start days together);
    a whole-day window from midnight covers its days; a window longer than a day that starts
    at another time cannot be said, and becomes the whole days it touches.
    """
    if not restrictions:
        return None, []
    notes: list[str] = []
    groups: dict[tuple[int, int], set[int]] = defaultdict(set)
    for r in restrictions:
        minute, exact = _minute_of_day(str(r.get("start_time_of_day") or "00:00:00"))
        if not exact:
            notes.append(f"restriction start {r.get('start_time_of_day')} rounded down to the "
                         "minute")
        seconds = int(r.get("duration_seconds") or 0)
        if seconds % 60:
            notes.append(f"restriction of {seconds}s rounded down to whole minutes")
        if r.get("type") == "weekly_restriction":
            days = {(int(r.get("start_day_of_week") or 1) - 1) % 7}
        else:
            days = set(range(7))
        groups[(minute, seconds // 60)].update(days)
    if len(groups) > 1:
        # The catalog has one window kind: keep the one that covers the most time.
        kept = max(groups, key=lambda g: (g[1] * len(groups[g]), -g[0]))
        dropped = [_describe(g, groups[g]) for g in sorted(groups) if g != kept]
        notes.append("PagerDuty restricts this layer to several windows; kept "
                     f"{_describe(kept, groups[kept])}, not {'; '.join(dropped)}")
        groups = {kept: groups[kept]}
    (minute, minutes), days = next(iter(groups.items()))
    if minutes <= 0:
        return None, [*notes, "restriction of no length ignored"]
    if minutes < 24 * 60:
        end = (minute + minutes) % (24 * 60)
        return {"days": format_days(days), "hours": f"{_clock(minute)}-{_clock(end)}"}, notes
    whole_days = minutes // (24 * 60)
    covered = {(d + i) % 7 for d in days for i in range(whole_days)}
    if minute == 0 and minutes % (24 * 60) == 0:
        if covered == set(range(7)):
            return None, notes  # on call all week: no restriction at all
        return {"days": format_days(covered), "hours": "00:00-24:00"}, notes
    touched = {(d + i) % 7 for d in days
               for i in range((minute + minutes - 1) // (24 * 60) + 1)}
    notes.append(f"PagerDuty's window {_describe((minute, minutes), days)} spans days; the "
                 f"catalog's hours repeat each day, so the whole days {format_days(touched)} "
                 "are kept (a little more than PagerDuty's)")
    if touched == set(range(7)):
        return None, notes
    return {"days": format_days(touched), "hours": "00:00-24:00"}, notes


def format_days(days: set[int]) -> str:
    """Weekday numbers (Mon = 0) as the catalog writes them: "Mon-Fri", "Mon,Wed,Fri"."""
    ordered = sorted(days)
    runs: list[list[int]] = []
    for day in ordered:
        if runs and day == runs[-1][-1] + 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    if len(runs) > 1 and runs[0][0] == 0 and runs[-1][-1] == 6:  # Sat-Mon wraps the week
        runs[0] = runs.pop() + runs[0]
    names = [WEEKDAYS[d].title() for d in range(7)]
    return ",".join(names[r[0]] if len(r) == 1 else f"{names[r[0]]}-{names[r[-1]]}"
                    for r in runs)


def _describe(group: tuple[int, int], days: set[int]) -> str:
    minute, minutes = group
    return f"{format_days(days)} from {_clock(minute)} for {format_duration(minutes * 60)}"


def _minute_of_day(text: str) -> tuple[int, bool]:
    parts = [int(p) for p in text.split(":")] + [0, 0]
    return parts[0] * 60 + parts[1], parts[2] == 0


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
