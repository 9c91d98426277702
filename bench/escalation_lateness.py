"""How late escalation steps fire with 1,000 deadlines pending (target: p99 under 1 second).

In-process with the real pieces of `firebell serve`: SchedulerTimers (APScheduler wake-ups plus
the poll), `run_due`, the SQL store on SQLite, and on PostgreSQL when FIREBELL_TEST_PG_URL is set
(a scratch database is created and dropped). 1,000 P1 incidents are declared; their first ack
timeouts are then spread over ~30 s. Lateness = the `escalated` event's time minus the
deadline's due_at. Pages go to an in-memory pager, so the figure is Firebell's own lateness.
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import textwrap
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text, update

from adapters.timers import SchedulerTimers
from app import build_console_context
from storage.tables import DeadlineRow
from tests.fakes import RecordingChat, RecordingPager
from workflows.clock import SystemClock
from workflows.context import Context
from workflows.deadlines import run_due
from workflows.declare import DeclareRequest, declare
from workflows.model import DeadlineKind

INCIDENTS = int(os.environ.get("BENCH_INCIDENTS", "1000"))
SPREAD = 30.0  # seconds over which the ack timeouts fall due
LEAD = 3.0  # seconds from the end of set-up to the first due deadline

CATALOG = textwrap.dedent("""\
    timezone: UTC
    people:
      - {id: alice, name: Alice, phone: "+15550100001"}
      - {id: bob, name: Bob, phone: "+15550100002"}
    teams:
      - {id: payments, name: Payments, escalation_policy: payments}
    services:
      - {id: checkout, name: Checkout API, team: payments, match: {service: checkout}}
    escalation_policies:
      - id: payments
        steps:
          - {notify: ["person:alice"], ack_timeout: 1h}
          - {notify: ["person:bob"], ack_timeout: 1h}
    priorities:
      matrix: {critical: {high: P1, low: P2}, major: {high: P2, low: P3}, minor: {high: P3, low: P4}}
      response:
        P1: {page: true, ack_within: 1h, channels: [sms, chat], update_every: 4h, monitor_for: 1h}
        P2: {page: true, ack_within: 1h, channels: [sms], update_every: 4h, monitor_for: 1h}
        P3: {page: false, ack_within: 8h business, channels: [chat]}
        P4: {page: false, ack_within: 5d business, channels: [ticket]}
""")


@contextmanager
def _databases(tmp: Path) -> Iterator[list[tuple[str, str]]]:
    urls = [("sqlite", f"sqlite:///{tmp / 'bench.db'}")]
    base = os.environ.get("FIREBELL_TEST_PG_URL")
    admin = None
    name = f"bench_{uuid.uuid4().hex[:10]}"
    if base:
        admin = create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        urls.append(("postgresql", base.rsplit("/", 1)[0] + f"/{name}"))
    try:
        yield urls
    finally:
        if admin is not None:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _run(label: str, catalog: Path, url: str) -> float:
    holder: dict[str, Context] = {}
    timers = SchedulerTimers(lambda: run_due(holder["ctx"]), poll_seconds=15)
    pager = RecordingPager()
    ctx = build_console_context(catalog_path=catalog, database_url=url, clock=SystemClock(),
                                timers=timers, chat=RecordingChat(),
                                pagers={"chat": pager, "sms": pager})
    # As `firebell serve` does: pages go out from a pool, beside the loop that claims deadlines.
    ctx.deliveries = ThreadPoolExecutor(max_workers=8, thread_name_prefix="pages")
    holder["ctx"] = ctx
    started = time.monotonic()
    ids = []
    for i in range(INCIDENTS):
        incident = declare(ctx, DeclareRequest(title=f"Bench {i}", service="checkout",
                                               severity="critical", urgency="high"))
        assert incident.id is not None
        ids.append(incident.id)
    declared = time.monotonic() - started
    # Spread the first ack timeouts over SPREAD seconds, starting LEAD seconds from now.
    rng = random.Random(1)
    now = datetime.now(UTC)
    due: dict[int, datetime] = {}
    engine = ctx.store.engine  # type: ignore[attr-defined]
    with engine.begin() as connection:
        for incident_id in ids:
            when = now + timedelta(seconds=LEAD + rng.uniform(0, SPREAD))
            due[incident_id] = when
            connection.execute(
                update(DeadlineRow)
                .where(DeadlineRow.incident_id == incident_id,  # type: ignore[arg-type]
                       DeadlineRow.kind == DeadlineKind.ESCALATE.value,  # type: ignore[arg-type]
                       DeadlineRow.done == False)  # type: ignore[arg-type]  # noqa: E712
                .values(due_at=when)
            )
    timers.start()
    timers.wake_at(min(due.values()))
    # Read the outcome only afterwards: polling the database meanwhile would add its own load.
    last = max(due.values())
    time.sleep(max(0.0, (last - datetime.now(UTC)).total_seconds()) + 2)
    while True:
        with ctx.store.transaction() as tx:
            pending = [d for i in ids for d in tx.pending_deadlines(i)
                       if d.kind == DeadlineKind.ESCALATE and d.due_at <= datetime.now(UTC)]
        if not pending or datetime.now(UTC) > last + timedelta(seconds=60):
            break
        time.sleep(1)
    timers.shutdown()
    lateness: dict[int, float] = {}
    with ctx.store.transaction() as tx:
        for incident_id in ids:
            fired = [e.at for e in tx.events(incident_id) if e.kind == "escalated"]
            if fired:
                lateness[incident_id] = (fired[0] - due[incident_id]).total_seconds()
    ctx.store.dispose()  # type: ignore[attr-defined]
    late = list(lateness.values())
    missing = len(ids) - len(late)
    p99 = _percentile(late, 0.99) if late else float("inf")
    print(f"{label:<11} {len(ids)} deadlines over {SPREAD:.0f}s (declared in {declared:.1f}s): "
          f"lateness p50 {_percentile(late, 0.5) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
          f"max {max(late) * 1000:.0f} ms, mean {statistics.fmean(late) * 1000:.0f} ms"
          + (f", {missing} never fired" if missing else ""), flush=True)
    return p99 if not missing else float("inf")


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        catalog = Path(tmp) / "catalog.yaml"
        catalog.write_text(CATALOG)
        with _databases(Path(tmp)) as urls:
            worst = max(_run(label, catalog, url) for label, url in urls)
    print(f"target p99 < 1000 ms: {'met' if worst < 1.0 else 'MISSED'}")
    return 0 if worst < 1.0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
