"""The reports of the web view: each one a chart, the numbers in a table, and the same rows as CSV.

The figures come from `workflows/insights.py`; the table is read back from the very CSV the
page links to (`rows_csv`), so the numbers beside the chart and the download cannot disagree.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.web.charts import Series, bar_chart, grouped_bars
from workflows import insights
from workflows.context import Context
from workflows.errors import InvalidRequest


@dataclass(frozen=True)
class Period:
    since: datetime
    until: datetime
    by: insights.By
    metric: str = "tta"  # response times: which of TTD/TTA/TTM/TTR the chart shows
    group: str = "priority"  # response times: "priority" | "team"
    zone: str = "UTC"  # the catalog's: where weeks and months begin


@dataclass(frozen=True)
class Chart:
    svg: str
    caption: str


@dataclass(frozen=True)
class Shown:
    """One report as a page shows it."""

    name: str
    title: str
    about: str
    charts: list[Chart]
    columns: list[str]  # the table's columns, named as in the CSV
    rows: list[dict[str, str]]
    csv: str


@dataclass(frozen=True)
class Report:
    name: str
    title: str
    about: str
    rows: Callable[[Context, Period], Sequence[Any]]
    charts: Callable[[Sequence[Any], Period], list[Chart]]
    columns: Callable[[Period], list[str]]


METRIC_NAMES = {"ttd": "time to detect", "tta": "time to acknowledge",
                "ttm": "time to mitigate", "ttr": "time to resolve"}


def _response_rows(ctx: Context, period: Period) -> list[insights.Bucket]:
    if period.metric not in insights.METRICS:
        raise InvalidRequest(f"metric must be one of {', '.join(insights.METRICS)}")
    if period.group not in ("priority", "team"):
        raise InvalidRequest("group must be priority or team")
    found = insights.response_times(ctx, since=period.since, until=period.until, by=period.by)
    return [b for b in found if b.dimension == period.group]


def _response_charts(rows: Sequence[insights.Bucket], period: Period) -> list[Chart]:
    # Every period of the range, a quiet one too: a gap in the chart says "nothing to measure".
    periods = [name for name, _ in insights.periods(period.since, period.until, by=period.by,
                                                     zone=ZoneInfo(period.zone))]
    groups = sorted({r.group for r in rows})
    means: dict[tuple[str, str], float | None] = {}
    for row in rows:
        stat = getattr(row, period.metric)
        means[(row.period, row.group)] = None if stat.mean is None else round(stat.mean / 60, 2)
    name = METRIC_NAMES[period.metric]
    title = f"Mean {name} per {period.group} by {period.by}"
    svg = grouped_bars(
        title=title, labels=periods, x_label=period.by, y_label=f"mean {name}", unit="minutes",
        series=[Series(g, [means.get((p, g)) for p in periods]) for g in groups])
    return [Chart(svg, f"{title}, in minutes (the table has seconds)")]


def _response_columns(period: Period) -> list[str]:
    m = period.metric
    return ["period", "group", "incidents", f"{m}_count", f"{m}_mean", f"{m}_median", f"{m}_p90"]


def _frequency_rows(ctx: Context, period: Period) -> list[insights.FrequencyRow]:
    return insights.frequency(ctx, since=period.since, until=period.until, by=period.by)


def _frequency_charts(rows: Sequence[insights.FrequencyRow], period: Period) -> list[Chart]:
    periods = _ordered(r.period for r in rows)
    counts = {(r.period, r.priority): float(r.incidents) for r in rows}
    priorities = sorted({r.priority for r in rows})
    title = f"Incidents per {period.by} and priority"
    svg = grouped_bars(
        title=title, labels=periods, x_label=period.by, y_label="incidents",
        series=[Series(p, [counts.get((x, p), 0.0) for x in periods])
                for p in priorities])
    return [Chart(svg, title)]


def _repeat_rows(ctx: Context, period: Period) -> list[insights.RepeatRow]:
    return insights.repeat_causes(ctx, since=period.since, until=period.until)


def _repeat_charts(rows: Sequence[insights.RepeatRow], period: Period) -> list[Chart]:
    title = "Incidents per repeated cause"
    svg = grouped_bars(
        title=title, labels=[f"{r.cause} on {r.service}" for r in rows], x_label="cause",
        y_label="incidents", series=[
            Series("incidents", [float(r.incidents) for r in rows]),
            Series("repeats", [float(r.repeats) for r in rows])])
    return [Chart(svg, title)]


def _night_rows(ctx: Context, period: Period) -> list[insights.NightRow]:
    return insights.pages_per_night(ctx, since=period.since, until=period.until)


def _night_charts(rows: Sequence[insights.NightRow], period: Period) -> list[Chart]:
    title = "Pages per person per night (22:00-07:00 in their zone)"
    pages = bar_chart(title=title, labels=[f"{r.night:%d %b} {r.name}" for r in rows],
                      values=[float(r.pages) for r in rows], x_label="night and person",
                      y_label="pages")
    bad: dict[str, int] = defaultdict(int)
    for row in rows:
        bad[row.name] += row.bad
    people = sorted(bad)
    more = f"more than {insights.BAD_NIGHT_PAGES} pages"
    nights = bar_chart(title=f"Bad nights ({more}) per person", labels=people,
                       values=[float(bad[p]) for p in people], x_label="person",
                       y_label="bad nights")
    return [Chart(pages, title), Chart(nights, f"Bad nights per person: nights with {more}")]


def _noise_rows(ctx: Context, period: Period) -> Sequence[Any]:
    return insights.noise(ctx, since=period.since, until=period.until)


def _noise_charts(rows: Sequence[Any], period: Period) -> list[Chart]:
    top = sorted(rows, key=lambda r: -r.alerts)[:20]
    title = "Alerts per rule, and how many a person acknowledged"
    svg = grouped_bars(
        title=title, labels=[f"{r.rule} ({r.service or 'unrouted'})" for r in top],
        x_label="alert rule", y_label="alerts", series=[
            Series("alerts", [float(r.alerts) for r in top]),
            Series("acknowledged", [float(r.acknowledged) for r in top]),
            Series("resolved on their own", [float(r.auto_resolved) for r in top])])
    return [Chart(svg, title + " (the noisiest 20)")]


def _hours_rows(ctx: Context, period: Period) -> Sequence[Any]:
    return insights.oncall_hours(ctx, since=period.since, until=period.until)


def _hours_charts(rows: Sequence[Any], period: Period) -> list[Chart]:
    title = "Hours on call per person and schedule"
    kinds = ("business", "night", "weekend", "holiday")
    svg = grouped_bars(
        title=title, labels=[f"{r.person} / {r.schedule}" for r in rows],
        x_label="person / schedule", y_label="hours", unit="hours",
        series=[Series(k, [round(getattr(r, k), 2) for r in rows]) for k in kinds])
    return [Chart(svg, title)]


REPORTS = {r.name: r for r in (
    Report("mttr", "Response times",
           "Mean, median and 90th percentile of TTD, TTA, TTM and TTR (seconds) per priority or "
           "team, by the week or month the incident was declared in.",
           _response_rows, _response_charts, _response_columns),
    Report("frequency", "Incident frequency",
           "Incidents declared per week or month and priority (drills left out).",
           _frequency_rows, _frequency_charts,
           lambda _: ["period", "priority", "incidents"]),
    Report("repeats", "Repeat incidents",
           "Causes behind more than one incident on a service: the postmortem's cause tag or "
           "the same alert; a repeat follows an earlier one within the repeat window.",
           _repeat_rows, _repeat_charts,
           lambda _: ["kind", "cause", "service", "incidents", "repeats", "incident_ids"]),
    Report("paging", "Pages per night",
           f"Pages each person had between 22:00 and 07:00 in their own zone; more than "
           f"{insights.BAD_NIGHT_PAGES} in a night is a bad night: a reliability signal.",
           _night_rows, _night_charts, lambda _: ["night", "person", "name", "pages", "bad"]),
    Report("noise", "Noisy alerts",
           "Signals and alerts per alert rule, how many were acknowledged, resolved on their "
           "own or flapped.",
           _noise_rows, _noise_charts,
           lambda _: ["rule", "service", "signals", "alerts", "acknowledged", "auto_resolved",
                      "flapping"]),
    Report("hours", "On-call hours",
           "Hours on call per person and schedule, split into business hours, nights, "
           "weekends and holidays, for compensation.",
           _hours_rows, _hours_charts,
           lambda _: ["person", "schedule", "business", "night", "weekend", "holiday", "total"]),
)}


def show(ctx: Context, name: str, period: Period) -> Shown:
    """Report `name` over `period`; LookupError for a report there is not."""
    report = REPORTS[name]
    rows = report.rows(ctx, period)
    text = insights.rows_csv(rows)
    table = list(csv.DictReader(io.StringIO(text)))
    return Shown(report.name, report.title, report.about, report.charts(rows, period),
                 report.columns(period), table, text)


def _ordered(values: Any) -> list[str]:
    seen: dict[str, None] = {}
    for value in values:
        seen.setdefault(value, None)
    return list(seen)
