"""Does Firebell agree with another tool on who is on call? Shift by shift, for a period.

After an import (`firebell import ... --compare`), the source's own answer (its final schedule)
is laid beside Firebell's computation of the imported catalog. Every stretch of time where the
two name different people is a difference; time zones, DST changes, restrictions and overrides
that the import did not carry over exactly show up here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from workflows.catalog.model import Catalog
from workflows.oncall.schedules import shifts


@dataclass(frozen=True)
class SourceShift:
    """The source says `person` (a catalog person id, or the source's own name for someone it
    could not map) is on call for `schedule` (a catalog schedule id) from `start` to `end`."""

    schedule: str
    person: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Difference:
    """From `start` to `end` the source names `source` and Firebell `firebell` (sorted ids;
    empty: nobody)."""

    schedule: str
    start: datetime
    end: datetime
    source: tuple[str, ...]
    firebell: tuple[str, ...]


@dataclass(frozen=True)
class ScheduleComparison:
    schedule: str
    shifts: int  # the source's shifts in the period
    agreeing: int  # of which Firebell has exactly the same person for the whole shift
    differences: list[Difference]


def compare_schedule(
    catalog: Catalog, *, schedule: str, source: Iterable[SourceShift], start: datetime,
    end: datetime,
) -> ScheduleComparison:
    """The source's shifts of `schedule` against Firebell's, within [start, end)."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    theirs = [(max(s.start.astimezone(UTC), start), min(s.end.astimezone(UTC), end), s.person)
              for s in source if s.schedule == schedule]
    theirs = [(a, b, who) for a, b, who in theirs if a < b]
    ours = [(s.start, s.end, s.person)
            for s in shifts(catalog, schedule_id=schedule, start=start, end=end)]
    differences: list[Difference] = []
    cuts = sorted({start, end, *(t for a, b, _ in theirs + ours for t in (a, b))})
    for a, b in zip(cuts, cuts[1:], strict=False):
        said = tuple(sorted({who for x, y, who in theirs if x <= a < y}))
        computed = tuple(sorted({who for x, y, who in ours if x <= a < y}))
        if said == computed:
            continue
        last = differences[-1] if differences else None
        if last and last.end == a and (last.source, last.firebell) == (said, computed):
            differences[-1] = Difference(schedule, last.start, b, said, computed)
        else:
            differences.append(Difference(schedule, a, b, said, computed))
    agreeing = sum(
        1 for a, b, _ in theirs
        if not any(d.start < b and a < d.end for d in differences)
    )
    return ScheduleComparison(schedule, len(theirs), agreeing, differences)
