"""Insights over the incident history: response times, frequency, repeats, nights paged.

Every figure is read from the store, never from chat. Definitions (the seeds' words):

- TTD: the first alert's start (its `startsAt`, else when its first signal came) -> declared.
  None for an incident a person declared without any alert.
- TTA: declared -> acknowledged. TTM, TTR: the impact's start (the first alert's start, else the
  declaration) -> mitigated (else resolved), resolved — as `workflows.incident.metrics` counts
  them for one incident.
- An incident counts in the period it was **declared**, once, in the catalog's zone (a week is
  an ISO week of local dates, so DST changes move nothing); its TTR may run past the period.
- Drills are practice: never counted.

Each function returns plain dataclasses; `rows_json` and `rows_csv` turn any list of them into
JSON-ready dicts or CSV text, so the CLI, the JSON API and the web pages print the same numbers.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, fields, is_dataclass
from datetime import date, datetime, time, timedelta
from enum import Enum
from typing import Any, Literal
from zoneinfo import ZoneInfo

from workflows.context import Context
from workflows.errors import InvalidRequest
from workflows.followup.model import ActionItem, Postmortem
from workflows.incident.metrics import IncidentMetrics, incident_metrics
from workflows.insight_model import IncidentFacts, IncidentQuery
from workflows.intake.noise import noise_report
from workflows.intake.signals import Alert, NoiseRow
from workflows.model import Incident, Page, TimelineEvent
from workflows.oncall.report import Hours
from workflows.oncall.report import oncall_hours as _oncall_hours
from workflows.paging.report import report_for as _paging_report

By = Literal["week", "month"]
BY_VALUES: tuple[By, ...] = ("week", "month")
METRICS = ("ttd", "tta", "ttm", "ttr")
BAD_NIGHT_PAGES = 2  # more than this many pages between 22:00 and 07:00 is a bad night


# Results ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Stat:
    """Seconds: how many incidents had the figure, and their mean, median and 90th percentile."""

    count: int
    mean: float | None
    median: float | None
    p90: float | None

    @classmethod
    def of(cls, values: Sequence[float]) -> Stat:
        if not values:
            return cls(0, None, None, None)
        return cls(len(values), statistics.fmean(values), float(statistics.median(values)),
                   percentile(values, 90))


@dataclass(frozen=True)
class Bucket:
    """Response times of one group (`dimension` "priority" | "team" | "all") in one period."""

    period: str  # "2026-W13" | "2026-03"
    start: date  # the period's first local day
    dimension: str
    group: str  # "P1", a team id, or "all"
    incidents: int
    ttd: Stat
    tta: Stat
    ttm: Stat
    ttr: Stat


@dataclass(frozen=True)
class FrequencyRow:
    period: str
    start: date
    priority: str
    incidents: int


@dataclass(frozen=True)
class RepeatRow:
    """Incidents that share a cause on one service: the postmortem's cause tag (`kind` "cause")
    or an alert fingerprint (`kind` "alert"). `repeats`: those within the catalog's repeat
    window of an earlier one with the same cause."""

    kind: str
    cause: str
    service: str
    incidents: int
    repeats: int
    incident_ids: tuple[int, ...]
    last_declared_at: datetime


@dataclass(frozen=True)
class NightRow:
    """Pages one person had in one night (22:00-07:00 in their zone), by the night's first date."""

    person: str
    name: str
    night: date
    pages: int
    bad: bool  # more than BAD_NIGHT_PAGES


@dataclass(frozen=True)
class IncidentDetail:
    """One incident with everything recorded about it."""

    incident: Incident
    events: list[TimelineEvent]
    pages: list[Page]
    alerts: list[Alert]
    postmortem: Postmortem | None
    actions: list[ActionItem]

    @property
    def tickets(self) -> list[str]:
        """Its own ticket and its action items' tickets."""
        return [ticket for _, ticket in self.labelled_tickets]

    @property
    def labelled_tickets(self) -> list[tuple[str, str]]:
        """(what it is for, key or URL): the incident's, then each action item's."""
        found = [("incident", self.incident.ticket)] if self.incident.ticket else []
        return found + [(f"action {a.ref}", a.ticket) for a in self.actions if a.ticket]

    @property
    def metrics(self) -> IncidentMetrics:
        return incident_metrics(self.incident, self.events)


@dataclass(frozen=True)
class IncidentPage:
    incidents: list[Incident]
    next_cursor: str | None


# The metrics --------------------------------------------------------------------------------
def response_times(
    ctx: Context, *, since: datetime, until: datetime, by: By = "week", zone: str | None = None
) -> list[Bucket]:
    """TTD/TTA/TTM/TTR per period, per priority and per team (and "all"), oldest period first."""
    facts = _facts(ctx, since, until)
    tz = ZoneInfo(zone or ctx.catalog.timezone)
    groups: dict[tuple[str, date, str, str], list[IncidentFacts]] = defaultdict(list)
    for fact in facts:
        period, start = period_of(fact.declared_at, by=by, zone=tz)
        for dimension, group in (("all", "all"), ("priority", fact.priority), ("team", fact.team)):
            groups[(period, start, dimension, group)].append(fact)
    order = {"all": 0, "priority": 1, "team": 2}
    buckets = []
    for (period, start, dimension, group), members in groups.items():
        values = {m: [s for f in members if (s := seconds(f, m)) is not None] for m in METRICS}
        buckets.append(Bucket(period, start, dimension, group, len(members),
                              *(Stat.of(values[m]) for m in METRICS)))
    return sorted(buckets, key=lambda b: (b.start, order[b.dimension], b.group))


def frequency(
    ctx: Context, *, since: datetime, until: datetime, by: By = "week", zone: str | None = None
) -> list[FrequencyRow]:
    """Incidents declared per period and priority (every period in range, zeros included)."""
    tz = ZoneInfo(zone or ctx.catalog.timezone)
    counts: dict[tuple[str, date, str], int] = defaultdict(int)
    facts = _facts(ctx, since, until)
    priorities = {f.priority for f in facts}
    for fact in facts:
        period, start = period_of(fact.declared_at, by=by, zone=tz)
        counts[(period, start, fact.priority)] += 1
    rows = []
    for period, start in periods(since, until, by=by, zone=tz):
        for priority in sorted(priorities):
            rows.append(FrequencyRow(period, start, priority, counts.get((period, start, priority), 0)))
    return rows


def repeat_causes(ctx: Context, *, since: datetime, until: datetime) -> list[RepeatRow]:
    """Causes (postmortem cause tags, and alert fingerprints) behind more than one incident on
    a service declared in [since, until), most repeated first."""
    window = timedelta(seconds=ctx.catalog.postmortem.repeat_window.seconds)
    # Earlier incidents make the first ones in the period repeats too.
    facts = _facts(ctx, since - window, until)
    keyed: dict[tuple[str, str, str], list[IncidentFacts]] = defaultdict(list)
    for fact in facts:
        if fact.cause:
            keyed[("cause", fact.cause, fact.service)].append(fact)
        for fingerprint in fact.fingerprints:
            keyed[("alert", fingerprint, fact.service)].append(fact)
    rows = []
    for (kind, cause, service), members in keyed.items():
        inside = [f for f in members if since <= f.declared_at < until]
        if not inside:
            continue
        repeats = sum(
            1 for f in inside
            if any(o.id != f.id and f.declared_at - window <= o.declared_at <= f.declared_at
                   and (o.declared_at, o.id) < (f.declared_at, f.id) for o in members)
        )
        if len(inside) < 2 and repeats == 0:
            continue
        rows.append(RepeatRow(kind, cause, service, len(inside), repeats,
                              tuple(f.id for f in inside), max(f.declared_at for f in inside)))
    return sorted(rows, key=lambda r: (-r.repeats, -r.incidents, r.kind, r.cause, r.service))


def pages_per_night(ctx: Context, *, since: datetime, until: datetime) -> list[NightRow]:
    """Per person and night, the pages between 22:00 and 07:00 in their zone (from the paging
    report, which counts the channels of one page once and leaves drills out)."""
    report = _paging_report(ctx, start=since, end=until)
    rows = [NightRow(p.person, p.name, night, count, count > BAD_NIGHT_PAGES)
            for p in report for night, count in p.nights.items()]
    return sorted(rows, key=lambda r: (r.night, r.person))


def noise(ctx: Context, *, since: datetime, until: datetime) -> list[NoiseRow]:
    """The noise report (workflows/intake/noise.py) for the period."""
    return noise_report(ctx, since=since, until=until)


def oncall_hours(ctx: Context, *, since: datetime, until: datetime) -> list[Hours]:
    """Hours on call per person and schedule, every schedule (workflows/oncall/report.py)."""
    return _oncall_hours(ctx.catalog, schedule_ids=[s.id for s in ctx.catalog.schedules],
                         start=since, end=until)


def find_incidents(ctx: Context, query: IncidentQuery) -> IncidentPage:
    """Incidents newest first, filtered, a page at a time: `next_cursor` gives the next page."""
    if query.state not in ("open", "all"):
        raise InvalidRequest(f"state must be open or all, not '{query.state}'")
    if not 1 <= query.limit <= 500:
        raise InvalidRequest(f"limit must be between 1 and 500, not {query.limit}")
    with ctx.reading() as uow:
        ids = uow.insights.find_incidents(
            IncidentQuery(**{**_as_dict(query), "limit": query.limit + 1}))
        by_id = uow.incidents.incidents_by_id(ids)
    found = [by_id[i] for i in ids if i in by_id]
    more = len(found) > query.limit
    found = found[: query.limit]
    return IncidentPage(found, str(found[-1].id) if more and found else None)


def incident_detail(ctx: Context, *, incident_id: int) -> IncidentDetail:
    """The incident, its timeline, pages, alerts, postmortem and action items (NotFound)."""
    with ctx.reading() as uow:
        incident = uow.incidents.get_incident(incident_id)
        return IncidentDetail(
            incident, uow.timeline.events(incident_id), uow.pages.pages(incident_id),
            uow.intake.incident_alerts(incident_id), uow.followups.postmortem(incident_id),
            uow.followups.actions(incident_id=incident_id, open_only=False),
        )


def parse_cursor(text: str | None) -> int | None:
    """The id a cursor stands for; InvalidRequest when it is not one of ours."""
    if not text:
        return None
    if not text.isdigit() or not 1 <= int(text) <= MAX_ID:
        raise InvalidRequest(f"cursor '{text[:40]}' is not one this API gave out")
    return int(text)


# Helpers shared by the front-ends -----------------------------------------------------------
def seconds(fact: IncidentFacts, metric: str) -> float | None:
    """One incident's TTD/TTA/TTM/TTR in seconds (never negative), None where unknown — as
    `workflows.incident.metrics` counts them for one incident: TTD impact start -> declared,
    TTA declared -> acknowledged, TTM and TTR impact start -> mitigated / resolved, where the
    impact start is its earliest alert's start, else the declaration."""
    start: datetime | None = fact.declared_at
    if metric in ("ttm", "ttr") and fact.first_signal_at is not None:
        start = min(fact.first_signal_at, fact.declared_at)
    end: datetime | None
    if metric == "ttd":
        start, end = fact.first_signal_at, fact.declared_at
        if start is None:
            return None
    elif metric == "tta":
        end = fact.acknowledged_at
    elif metric == "ttm":
        end = fact.mitigated_at or fact.resolved_at
    elif metric == "ttr":
        end = fact.resolved_at
    else:
        raise ValueError(metric)
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds())


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile by linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def period_of(when: datetime, *, by: By, zone: ZoneInfo) -> tuple[str, date]:
    """The period ("2026-W13" / "2026-03") and its first day, of the local date of `when`."""
    day = when.astimezone(zone).date()
    if by == "week":
        year, week, weekday = day.isocalendar()
        return f"{year}-W{week:02d}", day - timedelta(days=weekday - 1)
    return f"{day.year}-{day.month:02d}", day.replace(day=1)


def periods(since: datetime, until: datetime, *, by: By, zone: ZoneInfo) -> list[tuple[str, date]]:
    """Every period that [since, until) touches, in order."""
    found: list[tuple[str, date]] = []
    last = (until - timedelta(microseconds=1)).astimezone(zone).date()
    day = since.astimezone(zone).date()
    while day <= last:
        period = period_of(datetime.combine(day, time(12), zone), by=by, zone=zone)
        if not found or found[-1] != period:
            found.append(period)
        day += timedelta(days=1)
    return found


def check_by(text: str) -> By:
    if text not in BY_VALUES:
        raise InvalidRequest(f"by must be week or month, not '{text}'")
    return text  # type: ignore[return-value]


def rows_json(rows: Iterable[Any]) -> list[dict[str, Any]]:
    """Any list of these dataclasses as JSON-ready dicts (dates ISO, a Stat as a nested dict)."""
    return [_json(row) for row in rows]


def rows_csv(rows: Iterable[Any], *, of: type | None = None) -> str:
    """Any list of these dataclasses as CSV, a Stat flattened into `<name>_mean` and so on.
    `of`: the dataclass of the rows, for a header line when there are none."""
    flat = [_flat(row) for row in rows]
    names = list(flat[0]) if flat else [f.name for f in fields(of)] if of is not None else []
    out = io.StringIO()
    if names:
        writer = csv.DictWriter(out, fieldnames=names, lineterminator="\n")
        writer.writeheader()
        writer.writerows(flat)
    return out.getvalue()


MAX_ID = 2**31 - 1  # ids are 32-bit in the database: a larger cursor names nothing

_shared: ContextVar[dict[tuple[datetime, datetime], list[IncidentFacts]] | None] = ContextVar(
    "insight_facts", default=None)


@contextmanager
def shared_facts() -> Iterator[None]:
    """Inside, the insights of one period read its incidents once (a page showing several
    reports of the same period); outside, each reads them afresh."""
    token = _shared.set({})
    try:
        yield
    finally:
        _shared.reset(token)


def _facts(ctx: Context, since: datetime, until: datetime) -> list[IncidentFacts]:
    if since >= until:
        raise InvalidRequest(f"the period is empty: since {since.isoformat()} is not before "
                             f"until {until.isoformat()}")
    memo = _shared.get()
    if memo is not None and (since, until) in memo:
        return memo[(since, until)]
    with ctx.reading() as uow:
        facts = [f for f in uow.insights.incident_facts(since=since, until=until)
                 if f.declared_at < until]
    if memo is not None:
        memo[(since, until)] = facts
    return facts


def _as_dict(record: Any) -> dict[str, Any]:
    return {f.name: getattr(record, f.name) for f in fields(record)}


def _value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _value(v) for k, v in value.items()}
    if isinstance(value, float):
        return round(value, 3)
    return value


def _json(row: Any) -> dict[str, Any]:
    out = {}
    for name, value in _as_dict(row).items():
        out[name] = _json(value) if is_dataclass(value) else _value(value)
    if isinstance(row, Hours):
        out["total"] = round(row.total, 3)
    return out


def _flat(row: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in _json(row).items():
        if isinstance(value, dict):
            out.update({f"{name}_{k}": v for k, v in value.items()})
        elif isinstance(value, list):
            out[name] = " ".join(str(v) for v in value)
        else:
            out[name] = value
    return out
