"""Flat with history: what people wait for, with 0, 10,000 and 100,000 past incidents.

For each size a fresh database (a SQLite file; PostgreSQL too when FIREBELL_BENCH_PG_URL is set)
is bulk-filled with closed incidents, 10 timeline events each (1,000,000 at 100,000), and in
proportion their pages, delivered effects, answered Slack requests, alerts (with their groups
and signals) and ticket webhook deliveries. Then the real app (build + build_http_app under
uvicorn, Slack's Web API pointed at the fake Slack) is timed through HTTP:

- `/incident ack` in a fresh incident's channel, signed like Slack signs it: until answered;
- declare-to-first-page: `declare` until its first page effect is performed (a Slack DM);
- `/oncall payments` and `/incident list` (signed slash commands), and the JSON API's
  `GET /api/v1/incidents` and `GET /api/v1/oncall`.

Each figure is the median of ROUNDS; the last column is the largest over the empty database
(goal: at most 1.2x).
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from sqlalchemy import create_engine, insert, select, text

from storage.db import make_engine, upgrade
from storage.effect_tables import EffectRow, RequestSeenRow
from storage.intake_tables import AlertGroupRow, AlertRow, SignalRow, WebhookDeliveryRow
from storage.tables import IncidentRow, PageRow, TimelineRow
from tests.support.paths import DEMO_CATALOG
from tests.support.slack_fake import TEAM, FakeSlack
from tests.support.slack_helpers import (
    BOT_TOKEN,
    SIGNING_SECRET,
    ThreadedServer,
    signature_headers,
)

SIZES = (0, 10_000, 100_000)
EVENTS_PER_INCIDENT = 10
EFFECTS_PER_INCIDENT = 5
ROUNDS = 15
GOAL = 1.2
START = datetime(2023, 1, 1, tzinfo=UTC)
CHUNK = 20_000


def _fill(url: str, incidents: int) -> None:
    """Closed incidents over the two years before now, and what each left behind."""
    if not incidents:
        return
    rng = random.Random(16)
    engine = make_engine(url)
    span = int((datetime.now(UTC) - timedelta(days=1) - START).total_seconds())
    with engine.begin() as connection:
        for first in range(0, incidents, CHUNK):
            rows = []
            for n in range(first, min(incidents, first + CHUNK)):
                declared = START + timedelta(seconds=rng.randrange(span))
                resolved = declared + timedelta(seconds=rng.randrange(600, 20_000))
                rows.append({
                    "title": f"Past incident {n}", "service": "checkout", "team": "payments",
                    "severity": "critical", "urgency": "high", "environment": "production",
                    "priority": "P1", "flags": [], "state": "closed", "stage": "Resolved",
                    "roles": {}, "policy": [], "declared_at": declared,
                    "acknowledged_at": declared + timedelta(seconds=90),
                    "acknowledged_by": "alice", "resolved_at": resolved, "closed_at": resolved,
                    "channel": f"CPAST{n}", "drill": False, "security": False,
                    "description": "",
                })
            connection.execute(insert(IncidentRow), rows)
        ids = [(row.id, row.declared_at) for row in connection.execute(
            select(IncidentRow.id, IncidentRow.declared_at).order_by(IncidentRow.id))]  # type: ignore[call-overload]
        for first in range(0, len(ids), CHUNK // EVENTS_PER_INCIDENT):
            part = ids[first:first + CHUNK // EVENTS_PER_INCIDENT]
            connection.execute(insert(TimelineRow), [
                {"incident_id": i, "at": at + timedelta(seconds=k), "kind": "message",
                 "text": "status", "data": {}} for i, at in part for k in range(EVENTS_PER_INCIDENT)])
            connection.execute(insert(PageRow), [
                {"incident_id": i, "person": "alice", "channel": "chat", "step": 0, "round": 0,
                 "status": "acknowledged", "created_at": at, "ref": f"ref-{i}"} for i, at in part])
            connection.execute(insert(EffectRow), [
                {"key": f"past:{i}:{k}", "incident_id": i, "kind": "post", "payload": {},
                 "ordered": True, "status": "done", "attempts": 1, "created_at": at,
                 "not_before": at, "done_at": at, "result": "ts"}
                for i, at in part for k in range(EFFECTS_PER_INCIDENT)])
            connection.execute(insert(RequestSeenRow), [
                {"key": f"signed:past{i}", "seen_at": at, "status": 200, "body": "",
                 "content_type": ""} for i, at in part])
            connection.execute(insert(AlertGroupRow), [
                {"service": "checkout", "incident_id": i, "opened_at": at, "last_alert_at": at}
                for i, at in part])
            connection.execute(insert(WebhookDeliveryRow), [
                {"system": "jira", "delivery_id": f"d{i}", "received_at": at}
                for i, at in part if i % 10 == 0])
        groups = [row.id for row in connection.execute(
            select(AlertGroupRow.id).order_by(AlertGroupRow.id))]  # type: ignore[call-overload]
        for first in range(0, len(groups), CHUNK):
            part = list(zip(groups[first:first + CHUNK], ids[first:first + CHUNK], strict=True))
            connection.execute(insert(AlertRow), [
                {"source": "alertmanager", "dedup_key": f"fp{g % 500}", "rule": "HighErrorRate",
                 "service": "checkout", "status": "resolved", "group_id": g, "first_seen": at,
                 "resolved_at": at + timedelta(minutes=5), "labels": {}, "links": [],
                 "environment": "production", "summary": "", "unrouted_reason": "",
                 "resolved_by_source": True, "flapping": False} for g, (_, at) in part])
            connection.execute(insert(SignalRow), [
                {"received_at": at, "source": "alertmanager", "integration": "prometheus",
                 "action": action, "dedup_key": f"fp{g % 500}", "rule": "HighErrorRate",
                 "service": "checkout", "payload": {}}
                for g, (_, at) in part for action in ("trigger", "resolve")])
        if engine.dialect.name == "postgresql":
            connection.execute(text("ANALYZE"))
    engine.dispose()


class _Rig:
    """The real app over `url`, served on loopback, with the fake Slack behind it."""

    def __init__(self, url: str, fake: FakeSlack) -> None:
        from app import Settings, build
        from bot.server import build_http_app

        settings = Settings(
            firebell_config=str(DEMO_CATALOG), database_url=url, firebell_api_token="b",
            slack_bot_token=BOT_TOKEN, slack_signing_secret=SIGNING_SECRET,
            slack_api_url=fake.api_url)
        self.fake = fake
        self.firebell = build(settings)
        self.firebell.start()
        self.server = ThreadedServer(build_http_app(self.firebell)).start()
        self.http = httpx.Client(base_url=self.server.url, timeout=30)
        self._n = 0

    def close(self) -> None:
        self.http.close()
        self.server.stop()
        self.firebell.stop(grace=2)
        self.firebell.store.dispose()

    def command(self, command: str, words: str, *, channel: str = "C0PAYMENTS") -> None:
        self._n += 1
        body = urlencode({
            "team_id": TEAM, "channel_id": channel, "user_id": "U0ALICE", "command": command,
            "text": words, "response_url": f"{self.fake.base}/response/h{self._n}",
            "trigger_id": f"history.{self._n}"})
        answer = self.http.post("/slack/events", content=body.encode(), headers={
            "Content-Type": "application/x-www-form-urlencoded", **signature_headers(body)})
        if answer.status_code != 200:
            raise RuntimeError(f"{command} {words}: HTTP {answer.status_code} {answer.text}")

    def api(self, path: str) -> None:
        answer = self.http.get(path, headers={"Authorization": "Bearer b"})
        if answer.status_code != 200:
            raise RuntimeError(f"{path}: HTTP {answer.status_code}")

    def declare_until_paged(self) -> tuple[float, str]:
        """How long from `declare` to its first page performed; and the incident's channel."""
        from workflows.incident.declare import DeclareRequest, declare

        ctx = self.firebell.ctx
        began = time.perf_counter()
        incident = declare(ctx, DeclareRequest(title="checkout is down", service="checkout",
                                               severity="critical", urgency="high"))
        query = text("SELECT status FROM effects WHERE incident_id = :i AND kind = 'page'")
        engine = self.firebell.store.engine
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with engine.connect() as connection:
                statuses = [row.status for row in connection.execute(query, {"i": incident.id})]
            if any(status != "pending" for status in statuses):
                break
            time.sleep(0.002)
        else:
            raise TimeoutError("the first page was not performed within 30 s")
        paged = (time.perf_counter() - began) * 1000
        while time.monotonic() < deadline:
            with ctx.reading() as uow:
                channel = uow.incidents.get_incident(incident.id or 0).channel
            if channel:
                return paged, channel
            time.sleep(0.005)
        raise TimeoutError("the incident's channel was not made within 30 s")


def _timed(call: Callable[[], Any]) -> float:
    began = time.perf_counter()
    call()
    return (time.perf_counter() - began) * 1000


def _measure(url: str, fake: FakeSlack) -> dict[str, float]:
    rig = _Rig(url, fake)
    try:
        samples: dict[str, list[float]] = {}

        def add(name: str, ms: float) -> None:
            samples.setdefault(name, []).append(ms)

        rig.command("/incident", "help")  # warm: Bolt's first request calls auth.test
        rig.api("/api/v1/incidents")
        for _ in range(ROUNDS):
            paged, channel = rig.declare_until_paged()
            add("declare -> first page", paged)
            add("/incident ack", _timed(lambda channel=channel: rig.command(  # type: ignore[misc]
                "/incident", "ack", channel=channel)))
            add("/oncall payments", _timed(lambda: rig.command("/oncall", "payments")))
            add("/incident list", _timed(lambda: rig.command("/incident", "list")))
            add("GET /api/v1/incidents", _timed(lambda: rig.api("/api/v1/incidents")))
            add("GET /api/v1/incidents?state=all", _timed(
                lambda: rig.api("/api/v1/incidents?state=all")))
            add("GET /api/v1/oncall", _timed(lambda: rig.api("/api/v1/oncall")))
        return {name: statistics.median(values) for name, values in samples.items()}
    finally:
        rig.close()


def _run(urls: Callable[[int], str], label: str) -> bool:
    print(f"{label}: median of {ROUNDS} rounds, ms", flush=True)
    figures: dict[int, dict[str, float]] = {}
    for size in SIZES:
        url = urls(size)
        upgrade(url)
        began = time.perf_counter()
        _fill(url, size)
        print(f"  filled {size:,} incidents ({size * EVENTS_PER_INCIDENT:,} timeline events) in "
              f"{time.perf_counter() - began:.0f} s", flush=True)
        with FakeSlack() as fake:
            figures[size] = _measure(url, fake)
    ok = True
    print(f"  {'':<34}" + "".join(f"{size:>10,}" for size in SIZES) + f"{'ratio':>8}  goal")
    for name in figures[0]:
        row = [figures[size][name] for size in SIZES]
        ratio = max(row) / row[0]
        ok &= ratio <= GOAL
        print(f"  {name:<34}" + "".join(f"{ms:>10.1f}" for ms in row)
              + f"{ratio:>7.2f}x  <= {GOAL}x{'' if ratio <= GOAL else '  OVER'}", flush=True)
    return ok


def _postgres(base: str) -> Callable[[int], str]:
    """A fresh scratch database per size on the server of `base`."""
    admin = create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1),
                          isolation_level="AUTOCOMMIT")

    def url(size: int) -> str:
        name = f"firebell_history_{size}"
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            connection.execute(text(f"CREATE DATABASE {name}"))
        return admin.url.set(database=name).render_as_string(hide_password=False)

    return url


def main() -> int:
    ok = True
    with tempfile.TemporaryDirectory() as folder:
        ok &= _run(lambda size: f"sqlite:///{Path(folder) / f'history{size}.db'}", "SQLite")
    if os.environ.get("FIREBELL_BENCH_PG_URL"):
        ok &= _run(_postgres(os.environ["FIREBELL_BENCH_PG_URL"]), "PostgreSQL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
