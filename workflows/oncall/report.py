"""On-call hours for compensation, and schedule health.

Hours are split into business hours, nights, weekends and holidays by the catalog's business
hours (their zone and holiday calendar): a holiday counts as holiday all day, a day off as
weekend, a working day outside the business window as night. The four add up to the total.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays as holiday_data

from workflows.business_time import time_windows
from workflows.catalog.model import Catalog
from workflows.oncall.schedules import shifts


@dataclass
class Hours:
    person: str
    schedule: str
    business: float = 0.0
    night: float = 0.0
    weekend: float = 0.0
    holiday: float = 0.0

    @property
    def total(self) -> float:
        return self.business + self.night + self.weekend + self.holiday


@dataclass(frozen=True)
class Problem:
    schedule: str
    kind: str  # "gap" | "one person" | "long shift"
    text: str
    start: datetime | None = None
    end: datetime | None = None


@dataclass
class Report:
    start: datetime
    end: datetime
    hours: list[Hours] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def oncall_hours(
    catalog: Catalog, *, schedule_ids: list[str], start: datetime, end: datetime
) -> list[Hours]:
    """Hours on call per person and schedule between `start` and `end`, split by kind."""
    hours = catalog.business_hours
    zone = ZoneInfo(catalog.business_zone)
    calendar = _holidays(hours.holidays)
    found: dict[tuple[str, str], Hours] = {}
    for schedule_id in schedule_ids:
        for shift in shifts(catalog, schedule_id=schedule_id, start=start, end=end):
            row = found.setdefault(
                (shift.person, schedule_id), Hours(person=shift.person, schedule=schedule_id)
            )
            for a, b in _days(shift.start, shift.end, zone):
                day = a.astimezone(zone).date()
                length = (b - a).total_seconds() / 3600
                if calendar is not None and day in calendar:
                    row.holiday += length
                elif day.weekday() not in hours.weekdays:
                    row.weekend += length
                else:
                    windows = time_windows(
                        days=hours.weekdays, window=hours.window, zone=zone.key, start=a, end=b
                    )
                    inside = sum(
                        (min(b, we) - max(a, ws)).total_seconds()
                        for ws, we in windows
                        if ws < b and we > a
                    )
                    row.business += inside / 3600
                    row.night += length - inside / 3600
    return sorted(found.values(), key=lambda h: (h.schedule, h.person))


def health(
    catalog: Catalog,
    *,
    schedule_ids: list[str],
    start: datetime,
    end: datetime,
    max_shift: timedelta = timedelta(hours=24 * 7),
) -> list[Problem]:
    """Gaps with nobody on call, schedules that rest on one person, shifts longer than `max_shift`."""
    problems = []
    for schedule_id in schedule_ids:
        schedule = catalog.schedule(schedule_id)
        found = shifts(catalog, schedule_id=schedule_id, start=start, end=end)
        moment = start
        for shift in [*found, None]:
            until = shift.start if shift else end
            if until > moment:
                problems.append(Problem(schedule_id, "gap", "nobody on call", moment, until))
            if shift:
                moment = shift.end
        members = {m for layer in schedule.all_layers for m in layer.members}
        if len(members) == 1:
            problems.append(Problem(schedule_id, "one person", f"only {next(iter(members))} is on it"))
        # Adjacent pieces of one person's time (layer to layer, rotation to override) are one shift.
        run: list[datetime] = []
        for previous, shift in zip([None, *found], found, strict=False):
            if previous and previous.person == shift.person and previous.end == shift.start:
                run[1] = shift.end
                continue
            _long(problems, schedule_id, run, max_shift, previous.person if previous else "")
            run = [shift.start, shift.end]
        _long(problems, schedule_id, run, max_shift, found[-1].person if found else "")
    return problems


def _long(
    problems: list[Problem], schedule: str, run: list[datetime], limit: timedelta, person: str
) -> None:
    if run and run[1] - run[0] > limit:
        hours = (run[1] - run[0]).total_seconds() / 3600
        problems.append(
            Problem(schedule, "long shift", f"{person} is on call {hours:g}h in a row", *run)
        )


def _days(start: datetime, end: datetime, zone: ZoneInfo) -> list[tuple[datetime, datetime]]:
    """[start, end) cut at local midnights."""
    pieces, a = [], start
    while a < end:
        local = a.astimezone(zone).date() + timedelta(days=1)
        midnight = datetime.combine(local, time()).replace(tzinfo=zone).astimezone(UTC)
        b = min(end, midnight)
        pieces.append((a, b))
        a = b
    return pieces


def _holidays(code: str | None) -> holiday_data.HolidayBase | None:
    if not code:
        return None
    country, _, region = code.upper().partition("-")
    return holiday_data.country_holidays(country, subdiv=region or None)
