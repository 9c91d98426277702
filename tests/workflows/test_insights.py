"""The insight metrics from a scripted history with known answers, on SQLite and PostgreSQL.

Berlin changes to summer time on Sunday 2026-03-29 (02:00 -> 03:00) and back on Sunday
2026-10-25 (03:00 -> 02:00). The weeks and months are of Berlin's local dates: an incident at
00:30 on a Monday morning belongs to that Monday's week, although in UTC it is still Sunday.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from storage.store import SqlStore
from tests.support.catalogs import PAGING
from tests.support.world import World
from workflows import insights
from workflows.errors import InvalidRequest
from workflows.followup.postmortem import tag_cause
from workflows.incident import lifecycle, respond
from workflows.insight_model import IncidentQuery
from workflows.intake.intake import intake
from workflows.intake.signals import Action, Signal

BERLIN = ZoneInfo("Europe/Berlin")
CATALOG = (
    PAGING.replace("teams:\n", "teams:\n  - {id: search, name: Search, slack_channel: CSEARCH, "
                                "escalation_policy: pay}\n")
    .replace("services:\n", "services:\n  - {id: search-api, name: Search API, team: search, "
                            "match: {service: search}}\n")
)


def local(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=BERLIN).astimezone(UTC)  # type: ignore[misc]


def _alert(world: World, key: str, *, starts_at: datetime) -> int:
    signal = Signal(source="alertmanager", integration="default", action=Action.TRIGGER,
                    dedup_key=key, labels={"alertname": "HighErrorRate", "service": "checkout",
                                           "severity": "critical", "urgency": "high"},
                    summary=f"HighErrorRate on {key}", starts_at=starts_at)
    outcome = intake(world.ctx, [signal])[0]
    assert outcome.incident_id is not None
    return outcome.incident_id


def _run(world: World, incident_id: int, *, ack: int, mitigate: int | None = None,
         resolve: int) -> None:
    """Acknowledge `ack` s, mitigate `mitigate` s and resolve `resolve` s after the declaration."""
    declared = world.incident(incident_id).declared_at
    world.clock.set(declared + timedelta(seconds=ack))
    respond.acknowledge(world.ctx, incident_id=incident_id, person="alice")
    if mitigate is not None:
        world.clock.set(declared + timedelta(seconds=mitigate))
        lifecycle.mitigate(world.ctx, incident_id=incident_id, actor="alice")
    world.clock.set(declared + timedelta(seconds=resolve))
    lifecycle.resolve(world.ctx, incident_id=incident_id, actor="alice")


@pytest.fixture
def history(store: SqlStore) -> tuple[World, dict[str, int]]:
    """Five incidents, three weeks, two months, both DST changes."""
    world = World(store, local(2026, 3, 24, 9, 0), catalog=CATALOG, reporter="frank")
    ids: dict[str, int] = {}
    # A: Tue 24 March 10:00, from an alert that started at 09:50 (TTD 10 min). P1 payments.
    world.clock.set(local(2026, 3, 24, 10, 0))
    ids["a"] = _alert(world, "fp1", starts_at=local(2026, 3, 24, 9, 50))
    _run(world, ids["a"], ack=180, mitigate=1200, resolve=3600)
    # B: Sun 29 March 01:30 CET, the night summer time begins: week 13. P2, declared by hand.
    world.clock.set(local(2026, 3, 29, 1, 30))
    ids["b"] = world.declare_id(severity="major", urgency="high")
    _run(world, ids["b"], ack=240, resolve=7200)
    # C: Mon 30 March 00:30 CEST = Sunday 22:30 UTC: week 14 in Berlin. P1 search.
    world.clock.set(local(2026, 3, 30, 0, 30))
    ids["c"] = world.declare_id(service="search-api")
    _run(world, ids["c"], ack=120, resolve=1800)
    # D: Tue 31 March 22:00, resolved 1 April 02:00: counted once, in March; TTR 4 h. P1.
    world.clock.set(local(2026, 3, 31, 22, 0))
    ids["d"] = world.declare_id()
    _run(world, ids["d"], ack=60, resolve=14400)
    # E: Mon 26 October 00:30 CET = Sunday 25th 23:30 UTC, the night summer time ends: week 44.
    world.clock.set(local(2026, 10, 26, 0, 30))
    ids["e"] = world.declare_id(severity="major", urgency="high")
    _run(world, ids["e"], ack=300, resolve=600)
    # A drill is practice: never counted.
    world.clock.set(local(2026, 10, 27, 12, 0))
    drill = world.declare_id(drill=True)
    _run(world, drill, ack=1, resolve=2)
    return world, ids


YEAR = {"since": local(2026, 1, 1), "until": local(2027, 1, 1)}


def _bucket(buckets: list[insights.Bucket], period: str, dimension: str,
            group: str) -> insights.Bucket:
    return next(b for b in buckets if (b.period, b.dimension, b.group) == (period, dimension, group))


def test_weeks_are_berlin_weeks_across_both_dst_changes(history: tuple[World, dict[str, int]]) -> None:
    world, _ = history
    buckets = insights.response_times(world.ctx, by="week", **YEAR)
    alls = [(b.period, b.start, b.incidents) for b in buckets if b.dimension == "all"]
    assert alls == [("2026-W13", date(2026, 3, 23), 2), ("2026-W14", date(2026, 3, 30), 2),
                    ("2026-W44", date(2026, 10, 26), 1)]
    w14 = _bucket(buckets, "2026-W14", "team", "search")
    assert w14.incidents == 1 and w14.tta.mean == 120 and w14.ttr.mean == 1800


def test_month_figures_per_priority_with_mean_median_p90(
    history: tuple[World, dict[str, int]]
) -> None:
    world, _ = history
    buckets = insights.response_times(world.ctx, by="month", **YEAR)
    p1 = _bucket(buckets, "2026-03", "priority", "P1")  # A, C and D (D ends in April)
    assert p1.incidents == 3
    assert (p1.tta.count, p1.tta.mean, p1.tta.median, p1.tta.p90) == (3, 120, 120, 168)
    # A came from an alert that started 600 s before it was declared: its TTM and TTR count
    # from the impact's start (as the incident's own metrics do), 600 s more than from the
    # declaration.
    assert (p1.ttr.mean, p1.ttr.median, p1.ttr.p90) == (6800, 4200, 12360)
    assert p1.ttm.mean == pytest.approx((1800 + 1800 + 14400) / 3)  # unmitigated: resolved
    assert (p1.ttd.count, p1.ttd.mean) == (1, 600)  # only A came from an alert
    p2 = _bucket(buckets, "2026-03", "priority", "P2")
    assert (p2.incidents, p2.tta.mean, p2.ttr.mean, p2.ttd.count, p2.ttd.mean) == (1, 240, 7200, 0, None)
    assert _bucket(buckets, "2026-03", "team", "payments").incidents == 3
    assert [b.period for b in buckets if b.dimension == "all"] == ["2026-03", "2026-10"]
    assert not any(b.period == "2026-04" for b in buckets)  # D is counted once, in March


def test_a_period_counts_what_was_declared_in_it(history: tuple[World, dict[str, int]]) -> None:
    world, _ = history
    april = insights.response_times(world.ctx, since=local(2026, 4, 1), until=local(2026, 5, 1),
                                    by="month")
    assert april == []  # D was resolved in April, but declared in March
    week13 = insights.response_times(world.ctx, since=local(2026, 3, 23),
                                     until=local(2026, 3, 30), by="week")
    assert _bucket(week13, "2026-W13", "all", "all").incidents == 2  # C (Monday 00:30) is not in


def test_frequency_per_week_and_priority_with_empty_weeks(
    history: tuple[World, dict[str, int]]
) -> None:
    world, _ = history
    rows = insights.frequency(world.ctx, since=local(2026, 3, 23), until=local(2026, 4, 13),
                              by="week")
    assert [(r.period, r.priority, r.incidents) for r in rows] == [
        ("2026-W13", "P1", 1), ("2026-W13", "P2", 1), ("2026-W14", "P1", 2),
        ("2026-W14", "P2", 0), ("2026-W15", "P1", 0), ("2026-W15", "P2", 0),
    ]
    months = insights.frequency(world.ctx, by="month", **YEAR)
    assert sum(r.incidents for r in months) == 5
    assert {(r.period, r.priority): r.incidents for r in months}[("2026-10", "P2")] == 1
    assert len({r.period for r in months}) == 12


def test_repeats_by_cause_tag_within_the_window(history: tuple[World, dict[str, int]]) -> None:
    world, ids = history
    tag_cause(world.ctx, incident_id=ids["a"], tag="db-pool", actor="alice")
    tag_cause(world.ctx, incident_id=ids["d"], tag="db-pool", actor="alice")
    tag_cause(world.ctx, incident_id=ids["e"], tag="db-pool", actor="alice")  # 7 months later
    rows = [r for r in insights.repeat_causes(world.ctx, **YEAR) if r.kind == "cause"]
    assert [(r.cause, r.service, r.incidents, r.repeats, r.incident_ids) for r in rows] == [
        ("db-pool", "checkout", 3, 1, (ids["a"], ids["d"], ids["e"]))]
    # In a period holding only D, D still repeats A (declared within 30 days before it).
    only_d = insights.repeat_causes(world.ctx, since=local(2026, 3, 31), until=local(2026, 4, 1))
    assert [(r.incident_ids, r.repeats) for r in only_d if r.kind == "cause"] == [((ids["d"],), 1)]


def test_repeats_by_alert_fingerprint(store: SqlStore) -> None:
    world = World(store, local(2026, 5, 4, 9, 0), catalog=CATALOG, reporter="frank")
    first = _alert(world, "disk-full", starts_at=local(2026, 5, 4, 8, 55))
    _run(world, first, ack=60, resolve=600)
    world.clock.set(local(2026, 5, 4, 10, 0))
    intake(world.ctx, [Signal(source="alertmanager", integration="default",
                              action=Action.RESOLVE, dedup_key="disk-full",
                              labels={"service": "checkout"})])
    world.clock.set(local(2026, 5, 6, 9, 0))
    second = _alert(world, "disk-full", starts_at=local(2026, 5, 6, 8, 58))
    assert second != first
    rows = insights.repeat_causes(world.ctx, since=local(2026, 5, 1), until=local(2026, 6, 1))
    assert [(r.kind, r.cause, r.incident_ids, r.repeats) for r in rows] == [
        ("alert", "alertmanager/disk-full", (first, second), 1)]
    times = insights.response_times(world.ctx, since=local(2026, 5, 1), until=local(2026, 6, 1),
                                    by="month")
    assert _bucket(times, "2026-05", "all", "all").ttd.mean == (300 + 120) / 2


def test_pages_per_night_and_bad_nights(store: SqlStore) -> None:
    """Three pages between 22:00 and 07:00 is a bad night; it belongs to the evening's date."""
    world = World(store, local(2026, 3, 28, 23, 0), catalog=CATALOG, reporter="frank")
    for moment in (local(2026, 3, 28, 23, 0), local(2026, 3, 29, 1, 30), local(2026, 3, 29, 4, 0),
                   local(2026, 3, 29, 12, 0)):  # the last one is by day
        world.clock.set(moment)
        incident = world.declare_id()
        respond.acknowledge(world.ctx, incident_id=incident, person="carol")
    rows = insights.pages_per_night(world.ctx, since=local(2026, 3, 28), until=local(2026, 3, 30))
    # Carol is on pay-primary that week (alice, carol weekly from Monday 5 January).
    assert [(r.person, r.night, r.pages, r.bad) for r in rows] == [
        ("carol", date(2026, 3, 28), 3, True)]
    assert "night,pages,bad" in insights.rows_csv(rows).splitlines()[0]


def test_csv_and_json_carry_the_same_numbers(history: tuple[World, dict[str, int]]) -> None:
    world, _ = history
    buckets = insights.response_times(world.ctx, by="month", **YEAR)
    data = insights.rows_json(buckets)
    assert data[0]["period"] == "2026-03" and data[0]["tta"]["mean"] == 150  # A B C D
    lines = insights.rows_csv(buckets).splitlines()
    assert lines[0].startswith("period,start,dimension,group,incidents,ttd_count,ttd_mean")
    assert lines[1].startswith("2026-03,2026-03-01,all,all,4,1,600")


def test_listing_filters_and_pages_with_a_cursor(history: tuple[World, dict[str, int]]) -> None:
    world, ids = history
    assert insights.find_incidents(world.ctx, IncidentQuery()).incidents == []  # all resolved
    first = insights.find_incidents(world.ctx, IncidentQuery(state="all", limit=2))
    assert [i.id for i in first.incidents] == [ids["e"] + 1, ids["e"]]  # the drill, then E
    assert first.next_cursor is not None
    rest = insights.find_incidents(world.ctx, IncidentQuery(
        state="all", limit=10, before_id=insights.parse_cursor(first.next_cursor)))
    assert rest.next_cursor is None
    assert len(first.incidents) + len(rest.incidents) == 6  # the drill is listed: it happened
    search = insights.find_incidents(world.ctx, IncidentQuery(state="all", team="search"))
    assert [i.id for i in search.incidents] == [ids["c"]]
    march = insights.find_incidents(world.ctx, IncidentQuery(
        state="all", priority="P1", since=local(2026, 3, 1), until=local(2026, 4, 1)))
    assert [i.id for i in march.incidents] == [ids["d"], ids["c"], ids["a"]]
    with pytest.raises(InvalidRequest):
        insights.find_incidents(world.ctx, IncidentQuery(state="sometimes"))
    with pytest.raises(InvalidRequest):
        insights.parse_cursor("abc")


def test_an_empty_period_is_refused(history: tuple[World, dict[str, int]]) -> None:
    world, _ = history
    with pytest.raises(InvalidRequest, match="empty"):
        insights.response_times(world.ctx, since=local(2026, 5, 1), until=local(2026, 4, 1))
