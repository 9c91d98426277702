"""Flat with history: what people wait for, with 0, 10,000 and 100,000 past incidents.

For each size a fresh scratch database (a SQLite file, and/or a PostgreSQL database of its own on
FIREBELL_TEST_PG_URL's server: `--db sqlite|postgresql|both`) is bulk-filled with closed
incidents, 10 timeline events each (1,000,000 at 100,000), and in proportion their published
postmortems, pages, delivered effects, answered Slack requests, alerts (with their groups and
signals) and ticket webhook deliveries. Then retention is run to completion, as years of the scheduler's polls would
have run it (the fill is old, and otherwise the first polls prune ~600,000 rows while the timing
runs), and PostgreSQL is vacuumed and analysed as autovacuum would.

Then the real app (build + build_http_app under uvicorn, Slack's Web API pointed at a fake
Slack) is started on all three databases at once and timed through HTTP, in interleaved rounds
(the first `--warm` not counted):

- `/incident ack` in a fresh incident's channel, signed like Slack signs it: until answered;
- declare-to-first-page: `declare` until its first page effect is performed (a Slack DM);
- `/oncall payments` and `/incident list` (signed slash commands), and the JSON API's
  `GET /api/v1/incidents` (open) and `?state=all&limit=20` and `GET /api/v1/oncall`.

Before the timing each app declares `PAGE` (20) incidents of its own and waits for their
effects, so that every listing times the same full page whatever the size.

Each figure is the median of `--rounds`; the last column is the largest over the empty database
(goal: at most 1.2x).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from sqlalchemy import insert, select, text

from bench._scratch import Scratch
from storage.db import make_engine, upgrade
from storage.effect_tables import EffectRow, RequestSeenRow
from storage.intake_tables import AlertGroupRow, AlertRow, SignalRow, WebhookDeliveryRow
from storage.postmortem_tables import PostmortemRow
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
# Kinds and keys shaped like a declaration's own effects (a post's key starts with "post:").
KINDS = ("create_channel", "invite", "post", "page", "topic")
ROUNDS = 15
WARM = 3
PAGE = 20  # incidents per listed page, and open before the timing starts
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
                {"key": f"{KINDS[k]}:past{i}:{k}", "incident_id": i, "kind": KINDS[k], "payload": {},
                 "ordered": True, "status": "done", "attempts": 1, "created_at": at,
                 "not_before": at, "done_at": at, "result": "ts"}
                for i, at in part for k in range(EFFECTS_PER_INCIDENT)])
            # Each past incident's postmortem, published long ago (as a real history holds):
            # without them the scheduler's sweep would start writing postmortems while timed.
            connection.execute(insert(PostmortemRow), [
                {"incident_id": i, "state": "published", "required": True, "text": "",
                 "flags": [], "reminders": 0, "created_at": at + timedelta(hours=6),
                 "due_at": at + timedelta(days=5), "drafted_at": at + timedelta(days=1),
                 "published_at": at + timedelta(days=2), "updated_at": at + timedelta(days=2)}
                for i, at in part])
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

    def seed(self, count: int) -> None:
        """`count` open incidents, so that every listing times a full page at every size (the
        empty database's listing would otherwise be shorter, and cheaper to render)."""
        from workflows.incident.declare import DeclareRequest, declare

        for n in range(count):
            declare(self.firebell.ctx, DeclareRequest(
                title=f"seed {n}", service="checkout", severity="critical", urgency="high"))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # and their channels made, pages sent, ...
            with self.firebell.store.engine.connect() as connection:
                if not connection.execute(text(
                        "SELECT 1 FROM effects WHERE status = 'pending' LIMIT 1")).first():
                    return
            time.sleep(0.1)
        raise TimeoutError("the seeded incidents' effects were not performed within 120 s")

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


def _settle(url: str) -> str:
    """What years of use leave: retention run to completion (as the scheduler's polls would have
    done long ago), then the planner's statistics, as autovacuum would gather them on
    PostgreSQL (nothing gathers them on SQLite, so neither does the bench)."""
    from app import prune_history
    from storage.store import SqlStore

    store = SqlStore(url)
    try:
        began = time.perf_counter()
        with store.engine.connect() as connection:
            before = connection.execute(text("SELECT count(*) FROM effects")).scalar_one()
            before += connection.execute(text("SELECT count(*) FROM requests_seen")).scalar_one()
        prune_history(store, now=datetime.now(UTC))
        with store.engine.connect() as connection:
            after = connection.execute(text("SELECT count(*) FROM effects")).scalar_one()
            after += connection.execute(text("SELECT count(*) FROM requests_seen")).scalar_one()
        if store.engine.dialect.name == "postgresql":
            with store.engine.connect().execution_options(
                    isolation_level="AUTOCOMMIT") as connection:
                connection.execute(text("VACUUM ANALYZE"))
        return f"pruned {before - after:,} rows in {time.perf_counter() - began:.0f} s"
    finally:
        store.dispose()


class _Sample:
    """Every measure, one round, against one rig."""

    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = {}

    def add(self, name: str, ms: float) -> None:
        self.samples.setdefault(name, []).append(ms)

    def round(self, rig: _Rig) -> None:
        paged, channel = rig.declare_until_paged()
        self.add("declare -> first page", paged)
        self.add("/incident ack", _timed(lambda: rig.command("/incident", "ack", channel=channel)))
        self.add("/oncall payments", _timed(lambda: rig.command("/oncall", "payments")))
        self.add("/incident list", _timed(lambda: rig.command("/incident", "list")))
        self.add("GET /api/v1/incidents", _timed(lambda: rig.api("/api/v1/incidents")))
        self.add(f"GET /api/v1/incidents?state=all&limit={PAGE}", _timed(
            lambda: rig.api(f"/api/v1/incidents?state=all&limit={PAGE}")))
        self.add("GET /api/v1/oncall", _timed(lambda: rig.api("/api/v1/oncall")))

    def medians(self) -> dict[str, float]:
        return {name: statistics.median(values) for name, values in self.samples.items()}


def _run(database: str, folder: Path, *, rounds: int, warm: int) -> bool:
    scratch = Scratch(database, folder)
    if database == "postgresql" and not os.environ.get("FIREBELL_TEST_PG_URL"):
        print("PostgreSQL: skipped (FIREBELL_TEST_PG_URL is not set)", flush=True)
        return True
    try:
        urls: dict[int, str] = {}
        for size in SIZES:
            urls[size] = scratch.url(scratch.create())
            upgrade(urls[size])
            began = time.perf_counter()
            _fill(urls[size], size)
            print(f"  {database}: filled {size:,} incidents ({size * EVENTS_PER_INCIDENT:,} "
                  f"timeline events) in {time.perf_counter() - began:.0f} s; "
                  f"{_settle(urls[size])}", flush=True)
        with contextlib.ExitStack() as stack:
            rigs = {size: _Rig(urls[size], stack.enter_context(FakeSlack())) for size in SIZES}
            for rig in rigs.values():
                stack.callback(rig.close)
            for rig in rigs.values():
                rig.command("/incident", "help")  # Bolt's first request calls auth.test
                rig.seed(PAGE)
            sample = {size: _Sample() for size in SIZES}
            # Rounds interleaved across the sizes (in a rotating order), so that the machine's
            # load drifts over all of them alike; the first `warm` rounds are not counted.
            for n in range(warm + rounds):
                order = SIZES[n % len(SIZES):] + SIZES[:n % len(SIZES)]
                for size in order:
                    sample[size].round(rigs[size])
                    if n < warm:
                        sample[size].samples.clear()
        figures = {size: sample[size].medians() for size in SIZES}
    finally:
        scratch.close()
    print(f"{database}: median of {rounds} interleaved rounds after {warm} warm-up rounds, ms")
    ok = True
    print(f"  {'':<42}" + "".join(f"{size:>10,}" for size in SIZES) + f"{'ratio':>8}  goal")
    for name in figures[0]:
        row = [figures[size][name] for size in SIZES]
        ratio = max(row) / row[0]
        ok &= ratio <= GOAL
        print(f"  {name:<42}" + "".join(f"{ms:>10.1f}" for ms in row)
              + f"{ratio:>7.2f}x  <= {GOAL}x{'' if ratio <= GOAL else '  OVER'}", flush=True)
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.history")
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both",
                        help="PostgreSQL runs on FIREBELL_TEST_PG_URL's server, in scratch "
                             "databases of its own")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--warm", type=int, default=WARM)
    args = parser.parse_args(argv if argv is not None else [])
    databases = ("sqlite", "postgresql") if args.db == "both" else (args.db,)
    ok = True
    with tempfile.TemporaryDirectory() as folder:
        for database in databases:
            ok &= _run(database, Path(folder), rounds=args.rounds, warm=args.warm)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
