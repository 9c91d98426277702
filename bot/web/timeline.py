"""A schedule's shifts laid out for the web view: weeks of rows, each row's bars placed in percent.

One row per layer (its own rotation, before the layers above it and the overrides), a row of the
overrides when there are any, and the final row: who is actually on call, where an override's
time is marked as such. Weeks start on Monday in the schedule's zone; a bar's place is measured
in real time, so a week with a DST change is still drawn whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from workflows.catalog.model import Catalog
from workflows.oncall.schedules import Shift, shifts

FINAL = "on call"


@dataclass(frozen=True)
class Bar:
    person: str  # the person's name
    start: datetime  # aware, in the schedule's zone
    end: datetime
    left: float  # percent of the week
    width: float
    override: bool
    layer: str


@dataclass(frozen=True)
class Row:
    name: str
    bars: list[Bar]
    kind: str  # "layer" | "overrides" | "final"


@dataclass(frozen=True)
class Week:
    start: date
    days: list[tuple[date, float]]  # each day and where it begins (percent)
    rows: list[Row]
    now: float | None  # where "now" is in this week (percent), None when outside it


@dataclass(frozen=True)
class Timeline:
    schedule: str
    zone: str
    start: date
    weeks: list[Week]
    final: list[Shift]  # the final row's shifts over the whole span, for the table


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def layout(
    catalog: Catalog, *, schedule_id: str, first: date, weeks: int, now: datetime
) -> Timeline:
    """`weeks` weeks of `schedule_id` from the Monday on or before `first` (a local date)."""
    schedule = catalog.schedule(schedule_id)
    zone = ZoneInfo(catalog.schedule_zone(schedule_id))
    monday = monday_of(first)
    start = _instant(monday, zone)
    end = _instant(monday + timedelta(days=7 * weeks), zone)
    rows: list[tuple[str, str, list[Shift]]] = []
    for layer in schedule.all_layers:
        alone = schedule.model_copy(update={"rotation": None, "layers": [layer], "overrides": []})
        only = catalog.with_schedules(
            [alone if s.id == schedule_id else s for s in catalog.schedules])
        rows.append((layer.name, "layer", shifts(only, schedule_id=schedule_id, start=start,
                                                   end=end)))
    overrides = [
        Shift(o.person, max(o.start.astimezone(UTC), start), min(o.end.astimezone(UTC), end),
              "override", True)
        for o in schedule.overrides if o.start < end and o.end > start
    ]
    if overrides:
        rows.append(("overrides", "overrides", sorted(overrides, key=lambda s: s.start)))
    final = shifts(catalog, schedule_id=schedule_id, start=start, end=end)
    rows.append((FINAL, "final", final))
    names = {p.id: p.name for p in catalog.people}
    laid = []
    for number in range(weeks):
        day = monday + timedelta(days=7 * number)
        begin, finish = _instant(day, zone), _instant(day + timedelta(days=7), zone)
        span = (finish - begin).total_seconds()

        def place(moment: datetime, begin: datetime = begin, span: float = span) -> float:
            return round(100 * (moment - begin).total_seconds() / span, 3)

        days = [(day + timedelta(days=d), place(_instant(day + timedelta(days=d), zone)))
                for d in range(7)]
        week_rows = []
        for name, kind, found in rows:
            bars = [
                Bar(names.get(s.person, s.person), s.start.astimezone(zone),
                    s.end.astimezone(zone), place(max(s.start, begin)),
                    place(min(s.end, finish)) - place(max(s.start, begin)), s.override, s.layer)
                for s in found if s.start < finish and s.end > begin
            ]
            week_rows.append(Row(name, bars, kind))
        laid.append(Week(day, days, week_rows, place(now) if begin <= now < finish else None))
    return Timeline(schedule_id, zone.key, monday, laid, final)


def _instant(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), zone).astimezone(UTC)
