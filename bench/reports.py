"""The reports over a big history: 10,000 incidents and 1,000,000 timeline events (and an
alert per incident), bulk-inserted into a fresh SQLite file (and PostgreSQL when
FIREBELL_BENCH_PG_URL is set), then each insight timed over the whole year, and the reports
page (GET /reports, when the web view is there) or else the insight API through the real app.
Target: each under 500 ms."""

from __future__ import annotations

import os
import random
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from storage.db import upgrade
from storage.intake_tables import AlertGroupRow, AlertRow
from storage.store import SqlStore
from storage.tables import IncidentRow, PageRow, TimelineRow

INCIDENTS = 10_000
EVENTS = 1_000_000
START = datetime(2025, 1, 1, tzinfo=UTC)
BUDGET_MS = 500.0
CATALOG = Path(__file__).resolve().parent.parent / "examples" / "demo.yaml"


def _fill(store: SqlStore) -> None:
    rng = random.Random(15)
    incidents, groups, alerts, pages = [], [], [], []
    for n in range(1, INCIDENTS + 1):
        declared = START + timedelta(minutes=rng.randrange(0, 365 * 24 * 60))
        ack = declared + timedelta(seconds=rng.randrange(30, 1800))
        resolved = ack + timedelta(seconds=rng.randrange(300, 20000))
        incidents.append({
            "id": n, "title": f"Incident {n}", "service": "checkout", "team": "payments",
            "severity": "critical", "urgency": "high", "environment": "production",
            "priority": rng.choice(["P1", "P2"]), "flags": [], "state": "closed",
            "stage": "Resolved", "roles": {}, "policy": [], "declared_at": declared,
            "acknowledged_at": ack, "acknowledged_by": "alice", "resolved_at": resolved,
            "closed_at": resolved, "drill": False, "security": False, "description": "",
        })
        groups.append({"id": n, "service": "checkout", "incident_id": n, "opened_at": declared,
                       "last_alert_at": declared})
        alerts.append({"source": "alertmanager", "dedup_key": f"fp{n % 500}", "rule": "HighErrorRate",
                       "service": "checkout", "status": "resolved", "group_id": n,
                       "first_seen": declared - timedelta(seconds=60),
                       "starts_at": declared - timedelta(seconds=rng.randrange(30, 900)),
                       "labels": {}, "links": [], "environment": "production", "summary": "",
                       "unrouted_reason": "", "resolved_by_source": True, "flapping": False})
        pages.append({"incident_id": n, "person": "alice", "channel": "sms", "step": 0,
                      "round": 0, "status": "acknowledged", "created_at": declared})
    with store.engine.begin() as connection:
        connection.execute(insert(IncidentRow), incidents)
        connection.execute(insert(AlertGroupRow), groups)
        connection.execute(insert(AlertRow), alerts)
        connection.execute(insert(PageRow), pages)
        per = EVENTS // INCIDENTS
        batch: list[dict[str, Any]] = []
        for row in incidents:
            for k in range(per):
                batch.append({"incident_id": row["id"], "at": row["declared_at"] + timedelta(seconds=k),
                              "kind": "message", "text": "status", "data": {}})
            if len(batch) >= 50_000:
                connection.execute(insert(TimelineRow), batch)
                batch = []
        if batch:
            connection.execute(insert(TimelineRow), batch)


def _time(name: str, call: Callable[[], Any], results: list[tuple[str, float]]) -> None:
    call()  # warm: the first call pays for imports and the connection pool
    best = min(_once(call) for _ in range(3))
    results.append((name, best))
    print(f"  {name:<34} {best:8.1f} ms{'  OVER BUDGET' if best > BUDGET_MS else ''}", flush=True)


def _once(call: Callable[[], Any]) -> float:
    began = time.perf_counter()
    call()
    return (time.perf_counter() - began) * 1000


def run(url: str) -> bool:
    from starlette.testclient import TestClient

    from app import Settings, build
    from bot.server import build_http_app
    from workflows import insights

    upgrade(url)
    store = SqlStore(url)
    began = time.perf_counter()
    _fill(store)
    print(f"  filled {INCIDENTS:,} incidents, {EVENTS:,} timeline events in "
          f"{time.perf_counter() - began:.1f} s", flush=True)
    store.dispose()
    settings = Settings(firebell_config=str(CATALOG), database_url=url, firebell_api_token="b",
                        firebell_auth_header="X-Bench-User", firebell_session_secret="bench")
    firebell = build(settings)
    ctx = firebell.ctx
    since, until = START, START + timedelta(days=365)
    results: list[tuple[str, float]] = []
    for by in ("week", "month"):
        _time(f"response_times by {by}", lambda by=by: insights.response_times(  # type: ignore[misc]
            ctx, since=since, until=until, by=by), results)
    _time("frequency by week", lambda: insights.frequency(ctx, since=since, until=until, by="week"),
          results)
    _time("repeat_causes", lambda: insights.repeat_causes(ctx, since=since, until=until), results)
    _time("pages_per_night", lambda: insights.pages_per_night(ctx, since=since, until=until),
          results)
    quarter = until - timedelta(days=90)
    _time("pages_per_night, last 90 days", lambda: insights.pages_per_night(
        ctx, since=quarter, until=until), results)
    _time("response_times, last 90 days", lambda: insights.response_times(
        ctx, since=quarter, until=until, by="week"), results)
    _time("incident listing (all, 50)", lambda: insights.find_incidents(
        ctx, insights.IncidentQuery(state="all")), results)
    client = TestClient(build_http_app(firebell))
    person = ctx.catalog.people[0].id
    year = f"/reports?from={since.date()}&to={(until - timedelta(days=1)).date()}&by=week"
    page = client.get(year, headers={"X-Bench-User": person})
    if page.status_code == 200:
        # The page's own default is the last 91 days: the budget is for that; a whole year of
        # six reports is printed beside it.
        quarter_page = (f"/reports?from={(until - timedelta(days=91)).date()}"
                        f"&to={(until - timedelta(days=1)).date()}&by=week")
        _time("GET /reports, 91 days (web page)", lambda: client.get(
            quarter_page, headers={"X-Bench-User": person}), results)
        year_ms = min(_once(lambda: client.get(year, headers={"X-Bench-User": person}))
                      for _ in range(3))
        print(f"  {'GET /reports, a year (not budgeted)':<36}{year_ms:>8.1f} ms", flush=True)
    else:
        print(f"  (GET /reports answered {page.status_code}: timing the insight API instead)")
    headers = {"Authorization": "Bearer b"}
    q = f"?since={since.isoformat()}&until={until.isoformat()}".replace("+", "%2B")
    _time("GET /api/v1/insights/response-times", lambda: client.get(
        f"/api/v1/insights/response-times{q}&by=week", headers=headers), results)
    _time("GET /api/v1/incidents?state=all", lambda: client.get(
        "/api/v1/incidents?state=all", headers=headers), results)
    firebell.store.dispose()
    return all(ms <= BUDGET_MS for _, ms in results)


def main() -> int:
    ok = True
    with tempfile.TemporaryDirectory() as folder:
        print("SQLite:", flush=True)
        ok &= run(f"sqlite:///{Path(folder) / 'reports.db'}")
    if os.environ.get("FIREBELL_BENCH_PG_URL"):
        print("PostgreSQL:", flush=True)
        ok &= run(os.environ["FIREBELL_BENCH_PG_URL"])
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
