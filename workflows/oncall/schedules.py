"""Who is on call: rotations, layers and overrides of a schedule, and paging targets.

Pure functions of the catalog and a moment. Rotations are laid out in the schedule's zone on
the wall clock, so a "Mon 09:00" handoff stays at 09:00 local across DST changes; every
datetime that comes back is aware and in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from workflows.business_time import time_windows
from workflows.catalog.model import Catalog, Layer, Schedule, UnknownEntity

Segment = tuple[datetime, datetime, str]  # start, end, person


@dataclass(frozen=True)
class Shift:
    """`person` is on call from `start` to `end` through `layer` (or an override)."""

    person: str
    start: datetime
    end: datetime
    layer: str
    override: bool = False


def on_call(catalog: Catalog, *, schedule_id: str, at: datetime) -> list[str]:
    """Who is on call at `at`: an override inside its window, else the top layer with someone."""
    _aware(at)
    # The latest override around `at` wins outright: no need to lay out the rotations.
    for o in reversed(catalog.schedule(schedule_id).overrides):
        if o.start <= at < o.end:
            return [o.person]
    return [
        s.person
        for s in shifts(catalog, schedule_id=schedule_id, start=at, end=at + timedelta(seconds=1))
        if s.start <= at < s.end
    ]


def shifts(catalog: Catalog, *, schedule_id: str, start: datetime, end: datetime) -> list[Shift]:
    """The effective coverage of a schedule between `start` and `end`, in order.

    Adjacent time with the same person, layer and override status is one shift; times when
    nobody is on call are simply absent.
    """
    _aware(start)
    _aware(end)
    schedule = catalog.schedule(schedule_id)
    tz = ZoneInfo(catalog.schedule_zone(schedule_id))
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if end <= start:
        return []
    layers = [(layer.name, _layer_segments(layer, tz, start, end)) for layer in schedule.all_layers]
    return _compose(layers, _override_segments(schedule, start, end), start, end)


def next_handoff(
    catalog: Catalog, *, schedule_id: str, at: datetime
) -> tuple[datetime, list[str]] | None:
    """When the on-call set next changes after `at`, and who is on call from then ([] = nobody).

    None when nothing changes within two years.
    """
    current = on_call(catalog, schedule_id=schedule_id, at=at)
    # Short looks first: most schedules hand off within days, and laying out shifts is costly.
    for horizon in (timedelta(days=2), timedelta(days=9), timedelta(days=35), timedelta(days=400),
                    timedelta(days=731)):
        moment, people = at, current
        for shift in shifts(catalog, schedule_id=schedule_id, start=at, end=at + horizon):
            if shift.start > moment and people:
                return moment, []
            if [shift.person] != people:
                return shift.start, [shift.person]
            moment = shift.end
        if people and moment < at + horizon:
            return moment, []
    return None


@dataclass(frozen=True)
class LayerStatus:
    """One layer on its own (before overrides and the layers above it): who now, who next."""

    layer: str
    now: str | None
    next_at: datetime | None
    next: str | None


def layer_status(catalog: Catalog, *, schedule_id: str, at: datetime) -> list[LayerStatus]:
    """Now and next for each layer of a schedule (primary and secondary, daytime over 24/7 ...)."""
    _aware(at)
    schedule = catalog.schedule(schedule_id)
    tz = ZoneInfo(catalog.schedule_zone(schedule_id))
    at = at.astimezone(UTC)
    answers = []
    for layer in schedule.all_layers:
        answers.append(_layer_now_and_next(layer, tz, at))
    return answers


def _layer_now_and_next(layer: Layer, tz: ZoneInfo, at: datetime) -> LayerStatus:
    # Look a little ahead first: most layers hand off within days, and a long look is costly.
    current: str | None = None
    for horizon in (timedelta(days=2), timedelta(days=9), timedelta(days=35)):
        segments = sorted(_layer_segments(layer, tz, at, at + horizon))
        current = next((p for s, e, p in segments if s <= at < e), None)
        moment = at  # walk the layer's turns from `at` while the same person (or nobody) stays
        for start, end, person in segments:
            if end <= at:
                continue
            if start > moment and current is not None:
                return LayerStatus(layer.name, current, moment, None)  # a gap: nobody
            if person != current:
                return LayerStatus(layer.name, current, max(start, at), person)
            moment = end
        if current is not None and moment < at + horizon:
            return LayerStatus(layer.name, current, moment, None)
    return LayerStatus(layer.name, current, None, None)


def resolve_targets(catalog: Catalog, *, targets: list[str], at: datetime) -> list[str]:
    """Expand "schedule:x", "team:x", "group:x", "person:x" (or a bare person id) to person ids.

    Each person appears once, in the order the targets name them.
    """
    people: list[str] = []

    def expand(target: str, groups: frozenset[str]) -> None:
        kind, sep, name = target.partition(":")
        kind, name = (kind, name) if sep else ("person", target)
        if kind == "person":
            found = [catalog.person(name).id]
        elif kind == "schedule":
            found = on_call(catalog, schedule_id=name, at=at)
        elif kind == "team":
            found = [
                p
                for s in catalog.schedules_of_team(name)
                for p in on_call(catalog, schedule_id=s.id, at=at)
            ]
        elif kind == "group":
            found = []
            if name not in groups:  # a group naming itself (even indirectly) adds nobody new
                for inner in catalog.group(name):
                    expand(inner, groups | {name})
        else:
            raise UnknownEntity("target kind", kind, ["group", "person", "schedule", "team"])
        for person in found:
            if person not in people:
                people.append(person)

    for target in targets:
        expand(target, frozenset())
    return people


def _layer_segments(layer: Layer, tz: ZoneInfo, start: datetime, end: datetime) -> list[Segment]:
    """The layer's turns in [start, end), cut to its restrictions."""
    step = timedelta(seconds=layer.every.seconds)
    anchor = _anchor(layer)
    # Turns are counted on the wall clock; start a few turns early, as DST moves it by hours.
    margin = 2 + 3 * 3600 // layer.every.seconds
    k = (start.astimezone(tz).replace(tzinfo=None) - anchor) // step - margin
    segments: list[Segment] = []
    begin = _instant(anchor + k * step, tz)
    while begin < end:
        # An hour that does not exist (spring forward) can put a turn "before" the last one.
        finish = max(begin, _instant(anchor + (k + 1) * step, tz))
        if finish > start and finish > begin:
            segments.append(
                (max(begin, start), min(finish, end), layer.members[k % len(layer.members)])
            )
        begin, k = finish, k + 1
    if layer.restrictions is None:
        return segments
    r = layer.restrictions
    windows = time_windows(days=r.weekdays, window=r.window, zone=tz.key, start=start, end=end)
    return _intersect(segments, windows)


def _anchor(layer: Layer) -> datetime:
    """The naive local time of the first turn: the first handoff on or after `start`."""
    first: date = layer.start
    if layer.handoff_weekday is not None:
        first += timedelta(days=(layer.handoff_weekday - first.weekday()) % 7)
    return datetime.combine(first, time()) + timedelta(minutes=layer.handoff_minute)


def _instant(local: datetime, tz: ZoneInfo) -> datetime:
    return local.replace(tzinfo=tz).astimezone(UTC)


def _intersect(segments: list[Segment], windows: list[tuple[datetime, datetime]]) -> list[Segment]:
    found, i, j = [], 0, 0
    while i < len(segments) and j < len(windows):
        (s, e, person), (ws, we) = segments[i], windows[j]
        if max(s, ws) < min(e, we):
            found.append((max(s, ws), min(e, we), person))
        if e <= we:
            i += 1
        else:
            j += 1
    return found


def _override_segments(schedule: Schedule, start: datetime, end: datetime) -> list[Segment]:
    return [
        (max(o.start.astimezone(UTC), start), min(o.end.astimezone(UTC), end), o.person)
        for o in schedule.overrides
        if o.start < end and o.end > start
    ]


def _compose(
    layers: list[tuple[str, list[Segment]]],
    overrides: list[Segment],
    start: datetime,
    end: datetime,
) -> list[Shift]:
    """Flatten the stack: an override (the later one) wins, then the top layer with someone."""
    cuts = sorted(
        {
            start,
            end,
            *(t for _, segs in layers for s in segs for t in s[:2]),
            *(t for o in overrides for t in o[:2]),
        }
    )
    position = [0] * len(layers)
    result: list[Shift] = []
    for a, b in zip(cuts, cuts[1:], strict=False):
        winner = next(
            ((p, "override", True) for s, e, p in reversed(overrides) if s <= a < e), None
        )
        for index in reversed(range(len(layers)) if winner is None else ()):
            name, segments = layers[index]
            i = position[index]
            while i < len(segments) and segments[i][1] <= a:
                i += 1
            position[index] = i
            if i < len(segments) and segments[i][0] <= a:
                winner = (segments[i][2], name, False)
                break
        if winner is None:
            continue
        last = result[-1] if result else None
        if last and last.end == a and (last.person, last.layer, last.override) == winner:
            result[-1] = Shift(last.person, last.start, b, last.layer, last.override)
        else:
            result.append(Shift(winner[0], a, b, winner[1], winner[2]))
    return result


def _aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"datetime must be timezone-aware (got {moment.isoformat()})")
