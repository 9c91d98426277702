"""Alert storm: 20,000 Alertmanager webhooks for one fingerprint at concurrency 200, against the
real HTTP server (uvicorn, in a process of its own) on SQLite and on PostgreSQL, side by side
with the floor of the same stack.

The floor is a Starlette + uvicorn endpoint in a process of its own, on the same engine settings
(storage.db.make_engine), that parses the Alertmanager JSON and does one
`INSERT ... ON CONFLICT DO NOTHING` per alert into a one-table database: what any intake on this
stack must pay at least. Firebell is checked for exactly one incident and one page, and both are
printed in alerts per second with Firebell's share of the floor.
Goals: Firebell >= 0.5x the floor; >= 1,000/s on PostgreSQL with one process (500/s on SQLite).
PostgreSQL runs when FIREBELL_BENCH_PG_URL (or FIREBELL_TEST_PG_URL) names a server; databases
of its own are created and dropped.

    python -m bench.intake [--alerts N] [--concurrency C] [--only sqlite|postgresql] [--workers N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

TOKEN = "bench-intake-token-0123456789"
CATALOG = """
timezone: UTC
people: [{id: alice, name: Alice, slack: UALICE}]
teams: [{id: payments, name: Payments, slack_channel: CPAY, escalation_policy: pay}]
services: [{id: checkout, name: Checkout API, team: payments, match: {service: checkout}}]
schedules:
  - {id: primary, team: payments,
     rotation: {every: 1w, handoff: "Mon 09:00", start: "2026-01-05", members: [alice]}}
escalation_policies: [{id: pay, steps: [{notify: ["schedule:primary"], ack_timeout: 1h}]}]
priorities:
  response:
    P1: {page: true, ack_within: 5m, channels: [chat], update_every: 1h, monitor_for: 1h}
    P2: {page: true, ack_within: 15m, channels: [chat]}
    P3: {page: false, ack_within: 8h, channels: [chat]}
    P4: {page: false, ack_within: 5d, channels: [ticket]}
intake:
  rate_limit: {per_second: 100000, burst: 100000}
"""


def _body() -> bytes:
    labels = {"alertname": "CheckoutErrors", "service": "checkout", "severity": "critical"}
    return json.dumps({
        "version": "4", "groupKey": "{}:{alertname=\"CheckoutErrors\"}", "status": "firing",
        "receiver": "firebell", "groupLabels": labels, "commonLabels": labels,
        "commonAnnotations": {}, "externalURL": "http://alertmanager:9093", "truncatedAlerts": 0,
        "alerts": [{"status": "firing", "labels": labels,
                    "annotations": {"summary": "Checkout 5xx above 5%"},
                    "startsAt": "2026-11-24T09:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "http://prometheus:9090/graph", "fingerprint": "c0ffee"}],
    }).encode()


# the server ------------------------------------------------------------------------------------
@dataclass
class _NullChat:
    posts: int = 0

    def create_channel(self, *, name: str, private: bool) -> str:
        return "CBENCH"

    def invite(self, *, channel: str, people: list[str]) -> None: ...
    def set_topic(self, *, channel: str, topic: str) -> None: ...

    def post(self, *, channel: str, message: object) -> str:
        self.posts += 1
        return str(self.posts)

    def send_direct(self, *, person: str, message: object) -> str:
        return self.post(channel=person, message=message)

    def channel_url(self, channel: str) -> str | None:
        return None


@dataclass
class _Pager:
    channels: frozenset[str] = frozenset({"chat"})
    sent: list[str] = field(default_factory=list)

    def send_page(self, *, page: object, incident: object, message: object) -> str:
        self.sent.append("page")
        return f"ref-{len(self.sent)}"


@dataclass
class _Tickets:
    opened: int = 0

    def open_ticket(self, *, incident: object, body: str) -> str:
        self.opened += 1
        return f"BENCH-{self.opened}"

    def update_ticket(self, *, ticket: str, incident: object, comment: str) -> None: ...


def serve(database: str, port: int) -> None:
    import uvicorn
    from starlette.applications import Starlette

    from app import bootstrap
    from bot.webhooks import webhook_routes
    from workflows.catalog.load import parse_catalog
    from workflows.clock import ManualTimers, SystemClock

    ctx = bootstrap(catalog=parse_catalog(CATALOG), database_url=database, chat=_NullChat(),
                    clock=SystemClock(), timers=ManualTimers(), pagers={"chat": _Pager()},
                    tickets=_Tickets())
    firebell = SimpleNamespace(ctx=ctx, settings=SimpleNamespace(firebell_webhook_token=TOKEN))
    app = Starlette(routes=webhook_routes(firebell))  # type: ignore[arg-type]
    # Several server processes may share the port (SO_REUSEPORT): the kernel spreads connections.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    uvicorn.run(app, fd=sock.fileno(), log_level="warning", access_log=False)


# the floor: the same stack, one INSERT per alert -----------------------------------------------
def serve_floor(database: str, port: int) -> None:
    import uvicorn
    from sqlalchemy import Column, Integer, MetaData, String, Table
    from sqlalchemy.dialects import postgresql, sqlite
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from storage.db import is_sqlite, make_engine

    engine = make_engine(database)
    table = Table("floor_alerts", MetaData(), Column("id", Integer, primary_key=True),
                  Column("fingerprint", String, nullable=False, unique=True),
                  Column("summary", String, nullable=False))
    table.metadata.create_all(engine)
    insert = (sqlite.insert if is_sqlite(database) else postgresql.insert)(table)
    insert = insert.on_conflict_do_nothing(index_elements=["fingerprint"])

    def store(rows: list[dict[str, str]]) -> None:
        with engine.begin() as c:
            for row in rows:
                c.execute(insert, row)

    async def alertmanager(request: Request) -> JSONResponse:
        data = json.loads(await request.body())
        rows = [{"fingerprint": a["fingerprint"], "summary": a["annotations"].get("summary", "")}
                for a in data["alerts"]]
        await run_in_threadpool(store, rows)
        return JSONResponse({"status": "success", "alerts": len(rows)})

    app = Starlette(routes=[Route("/webhooks/alertmanager", alertmanager, methods=["POST"])])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _floor_rows(database: str) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(database.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as c:
        rows = int(c.execute(text("SELECT count(*) FROM floor_alerts")).scalar_one())
    engine.dispose()
    return rows


# the client -----------------------------------------------------------------------------------
async def _storm(port: int, total: int, concurrency: int) -> tuple[float, dict[int, int]]:
    import aiohttp

    url = f"http://127.0.0.1:{port}/webhooks/alertmanager"
    body = _body()
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    statuses: dict[int, int] = {}
    left = total

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal left
        while left > 0:
            left -= 1
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                statuses[response.status] = statuses.get(response.status, 0) + 1

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        start = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        return time.perf_counter() - start, statuses


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the server exited at start-up")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the server did not start")


def _counts(database: str) -> dict[str, int]:
    from sqlalchemy import create_engine, text

    engine = create_engine(database.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as c:
        counts = {name: int(c.execute(text(query)).scalar_one()) for name, query in {
            "incidents": "SELECT count(*) FROM incidents",
            "pages": "SELECT count(*) FROM pages",
            "tickets": "SELECT count(*) FROM incidents WHERE ticket IS NOT NULL",
            "signals": "SELECT count(*) FROM signals",
            "alerts": "SELECT count(*) FROM alerts",
        }.items()}
    engine.dispose()
    return counts


def run_floor(name: str, database: str, *, total: int, concurrency: int) -> float:
    """The floor's alerts/s (one process), or 0 if it answered anything but 200 or stored more
    than the one row."""
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-m", "bench.intake", "floor", database, str(port)],
                               cwd=Path(__file__).resolve().parent.parent)
    try:
        _wait_ready(port, process)
        seconds, statuses = asyncio.run(_storm(port, total, concurrency))
    finally:
        process.terminate()
        process.wait(20)
    rows, rate = _floor_rows(database), total / seconds
    ok = statuses == {200: total} and rows == 1
    print(f"{name} floor: {total} webhooks at concurrency {concurrency}, 1 server process, in "
          f"{seconds:.1f}s = {rate:,.0f} alerts/s; answers {statuses}; {rows} row; "
          f"{'OK' if ok else 'FAILED'}", flush=True)
    return rate if ok else 0.0


def run(
    name: str, database: str, *, total: int, concurrency: int, target: float, workers: int
) -> tuple[bool, float]:
    from storage.db import upgrade

    upgrade(database)
    port = _free_port()
    processes = [
        subprocess.Popen([sys.executable, "-m", "bench.intake", "serve", database, str(port)],
                         cwd=Path(__file__).resolve().parent.parent)
        for _ in range(workers)
    ]
    try:
        for process in processes:
            _wait_ready(port, process)
        time.sleep(0.5)  # let every process reach accept()
        seconds, statuses = asyncio.run(_storm(port, total, concurrency))
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(20)
    counts = _counts(database)
    rate = total / seconds
    ok = (statuses == {200: total} and counts["incidents"] == 1 and counts["pages"] == 1
          and counts["tickets"] == 1 and counts["signals"] == total and counts["alerts"] == 1)
    print(f"{name}: {total} webhooks at concurrency {concurrency}, {workers} server process(es), in {seconds:.1f}s = "
          f"{rate:,.0f} alerts/s (target {target:,.0f}/s: {'met' if rate >= target else 'MISSED'}); "
          f"answers {statuses}; {counts}; {'OK' if ok else 'FAILED'}", flush=True)
    return ok, rate


def compare(
    name: str, database: str, floor_database: str, *, total: int, concurrency: int,
    target: float, workers: int,
) -> bool:
    """The floor and Firebell on the same kind of database, one after the other, and the ratio."""
    floor = run_floor(name, floor_database, total=total, concurrency=concurrency)
    ok, rate = run(name, database, total=total, concurrency=concurrency, target=target,
                   workers=workers)
    ratio = rate / floor if floor else 0.0
    print(f"{name}: Firebell {rate:,.0f} alerts/s with {workers} process(es) = {ratio:.2f}x the "
          f"floor's {floor:,.0f}/s (goal >= 0.5x: {'met' if ratio >= 0.5 else 'MISSED'}); "
          f"absolute goal {target:,.0f}/s: {'met' if rate >= target else 'MISSED'}", flush=True)
    return ok and floor > 0


def _postgres(base: str) -> tuple[str, object]:
    from sqlalchemy import create_engine, text

    name = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return base.rsplit("/", 1)[0] + f"/{name}", drop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.intake")
    parser.add_argument("--alerts", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--workers", type=int, default=1,
                        help="server processes sharing the port, like replicas behind a proxy")
    args = parser.parse_args(argv if argv is not None else [])
    ok = True
    if args.only != "postgresql":
        with tempfile.TemporaryDirectory() as tmp:
            ok &= compare("sqlite", f"sqlite:///{tmp}/bench.db", f"sqlite:///{tmp}/floor.db",
                          total=args.alerts, concurrency=args.concurrency, target=500,
                          workers=args.workers)
    base = os.environ.get("FIREBELL_BENCH_PG_URL") or os.environ.get("FIREBELL_TEST_PG_URL")
    if args.only != "sqlite":
        if not base:
            print("postgresql: skipped (set FIREBELL_BENCH_PG_URL or FIREBELL_TEST_PG_URL)")
        else:
            url, drop = _postgres(base)
            floor_url, drop_floor = _postgres(base)
            try:
                ok &= compare("postgresql", url, floor_url, total=args.alerts,
                              concurrency=args.concurrency, target=1000, workers=args.workers)
            finally:
                drop()  # type: ignore[operator]
                drop_floor()  # type: ignore[operator]
    return 0 if ok else 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve(sys.argv[2], int(sys.argv[3]))
    elif sys.argv[1:2] == ["floor"]:
        serve_floor(sys.argv[2], int(sys.argv[3]))
    else:
        raise SystemExit(main(sys.argv[1:]))
