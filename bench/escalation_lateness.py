"""How late step-2 pages reach Twilio with 1,000 deadlines pending, with and without one
incident's Twilio requests hanging (target: p99 under 1 second in both).

In one process, the pieces `firebell serve` runs: SchedulerTimers (APScheduler wake-ups, and the
poll with its housekeeping), `run_due`, the EffectDispatcher (16 workers) performing the outbox
rows, and the real TwilioPager, talking to the fake Twilio REST API (tests/support/twilio_fake.py) on
loopback in a process of its own. On SQLite, and on PostgreSQL too when FIREBELL_TEST_PG_URL is
set (scratch databases are created and dropped).

Each run declares 1,000 P1 incidents (step 1 pages Alice by chat) and then spreads their step-1
ack timeouts over SPREAD seconds. When one runs out, step 2 pages by SMS and by voice through
Twilio. An incident's lateness = the moment the later of its two step-2 requests reached Twilio
minus the deadline's due_at: Firebell's claim and commit, the dispatcher's pick-up and the HTTP
request. The time from due_at to the `escalated` event (the claim alone) is shown beside it. An
incident whose two pages have not both arrived SETTLE seconds after the last deadline counts as
never paged. Each run also says how many effects the dispatcher performed and how fast: the rate
it was asked for while it keeps up, its throughput once it falls behind.

Two scenarios in the same run, each on its own copy of the database the incidents were declared
in:
(a) Twilio answers every request at once;
(b) the same, except that one incident (its step-2 person, Carol, is paged for it alone, and its
    deadline is due first) gets no answer: every request for Carol's number hangs HANG_SECONDS.
    The adapter's 10 s timeout and its retries keep two dispatcher workers busy with Carol for
    the whole window; the other 999 incidents must not wait for them. Carol's requests count
    when they arrive (they do reach Twilio; it is the answer that never comes).
"""

from __future__ import annotations

import math
import os
import random
import tempfile
import textwrap
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, update
from sqlmodel import col

from adapters.dispatcher import EffectDispatcher
from adapters.timers import SchedulerTimers
from adapters.twilio_pager import TwilioPager
from app import bootstrap, housekeeping
from bench._scratch import Scratch
from bench._twilio_process import TwilioProcess
from storage.db import aware
from storage.effect_tables import EffectRow
from storage.store import SqlStore
from storage.tables import DeadlineRow
from tests.support.fakes import RecordingChat, RecordingPager
from tests.support.twilio_fake import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER
from workflows.catalog.load import load_catalog
from workflows.catalog.model import Catalog
from workflows.clock import ManualTimers, SystemClock
from workflows.context import Context
from workflows.deadlines import run_due
from workflows.incident.declare import DeclareRequest, declare
from workflows.model import DeadlineKind
from workflows.ports import PagerPort, Timers

INCIDENTS = int(os.environ.get("BENCH_INCIDENTS", "1000"))
SPREAD = 30.0  # seconds over which the ack timeouts fall due (as in earlier figures)
LEAD = 3.0  # seconds from the end of set-up to the first due deadline
HANG_SECONDS = 30.0  # how long Twilio keeps a request for the hung number without answering
SETTLE = 10.0  # after the last deadline: how long to wait for pages still missing
WORKERS = 16  # the dispatcher's, as `serve` has them
TARGET = 1.0
CAROL = "+15550100003"
PUBLIC_URL = "http://127.0.0.1:9"  # status callbacks are named, never called, in this bench

CATALOG = textwrap.dedent(f"""\
    timezone: UTC
    people:
      - {{id: alice, name: Alice, phone: "+15550100001", notify: [{{channel: chat}}]}}
      - {{id: bob, name: Bob, phone: "+15550100002"}}
      - {{id: carol, name: Carol, phone: "{CAROL}"}}
    teams:
      - {{id: payments, name: Payments, escalation_policy: payments}}
      - {{id: ledger, name: Ledger, escalation_policy: ledger}}
    services:
      - {{id: checkout, name: Checkout API, team: payments, match: {{service: checkout}}}}
      - {{id: ledger, name: Ledger, team: ledger, match: {{service: ledger}}}}
    escalation_policies:
      - id: payments
        steps:
          - {{notify: ["person:alice"], ack_timeout: 1h}}
          - {{notify: ["person:bob"], ack_timeout: 1h}}
      - id: ledger
        steps:
          - {{notify: ["person:alice"], ack_timeout: 1h}}
          - {{notify: ["person:carol"], ack_timeout: 1h}}
    priorities:
      matrix: {{critical: {{high: P1, low: P2}}, major: {{high: P2, low: P3}}, minor: {{high: P3, low: P4}}}}
      response:
        P1: {{page: true, ack_within: 1h, channels: [sms, voice], update_every: 4h, monitor_for: 1h}}
        P2: {{page: true, ack_within: 1h, channels: [sms], update_every: 4h, monitor_for: 1h}}
        P3: {{page: false, ack_within: 8h business, channels: [chat]}}
        P4: {{page: false, ack_within: 5d business, channels: [ticket]}}
""")


@dataclass(frozen=True)
class Result:
    database: str
    scenario: str
    lateness: list[float]  # per incident whose step-2 pages both reached Twilio, seconds
    claimed: list[float]  # per incident: due_at -> its `escalated` event, seconds
    missing: int  # incidents whose step-2 pages did not both reach Twilio
    held: int  # requests Twilio held without an answer

    def percentile(self, q: float) -> float:
        """Over every incident; one never paged counts as infinitely late."""
        return _percentile(self.lateness + [math.inf] * self.missing, q)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _context(url: str, catalog: Catalog, timers: Timers, pagers: dict[str, PagerPort]) -> Context:
    return bootstrap(catalog=catalog, database_url=url, chat=RecordingChat(), clock=SystemClock(),
                     timers=timers, pagers=pagers, public_url=PUBLIC_URL)


def _set_up(url: str, catalog: Catalog) -> list[int]:
    """Declare the incidents; returns their ids. The first is the ledger's: its step 2 pages
    Carol, whose number may hang. Runs with `dispatch` None: each declaration performs its own
    effects (channel, posts, Alice's chat page) before the next, so the outbox is empty after."""
    ctx = _context(url, catalog, ManualTimers(), {"chat": RecordingPager()})
    ids = []
    for i in range(INCIDENTS):
        incident = declare(ctx, DeclareRequest(
            title=f"Bench {i}", service="ledger" if i == 0 else "checkout",
            severity="critical", urgency="high"))
        assert incident.id is not None
        ids.append(incident.id)
    store = ctx.store
    assert isinstance(store, SqlStore)
    store.dispose()
    return ids


def _run(database: str, url: str, catalog: Catalog, ids: list[int], *, twilio: TwilioProcess,
         hang: bool) -> Result:
    scenario = "(b) one incident hangs" if hang else "(a) Twilio answers"
    twilio.ask("reset")
    holder: dict[str, Context] = {}
    acting = threading.Lock()  # held while a wake-up acts on what is due

    def act() -> None:
        with acting:
            run_due(holder["ctx"])

    # As `app.build` wires them: a wake-up acts on what is due; the poll also does housekeeping.
    timers = SchedulerTimers(act, poll_seconds=15, on_poll=lambda: housekeeping(holder["ctx"]))
    pager = TwilioPager(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, from_number=FROM_NUMBER,
                        api_url=twilio.api_url, public_url=PUBLIC_URL,
                        phone_of=lambda person: catalog.person(person).phone)
    ctx = holder["ctx"] = _context(url, catalog, timers,
                                   {"chat": RecordingPager(), "sms": pager, "voice": pager})
    store = ctx.store
    assert isinstance(store, SqlStore)
    # Spread the ack timeouts over SPREAD seconds from LEAD seconds on; Carol's falls due first,
    # so her hung requests hold their workers while all the others fall due.
    rng = random.Random(1)
    now = datetime.now(UTC)
    due = {incident_id: now + timedelta(seconds=LEAD + (rng.uniform(0, SPREAD) if n else 0))
           for n, incident_id in enumerate(ids)}
    with store.engine.begin() as connection:
        for incident_id, when in due.items():
            connection.execute(
                update(DeadlineRow)
                .where(DeadlineRow.incident_id == incident_id,  # type: ignore[arg-type]
                       DeadlineRow.kind == DeadlineKind.ESCALATE.value,  # type: ignore[arg-type]
                       DeadlineRow.done == False)  # type: ignore[arg-type]  # noqa: E712
                .values(due_at=when)
            )
    if hang:
        twilio.ask(f"hang {CAROL}")
    # From here on as `serve`: every commit kicks the dispatcher, whose workers perform effects.
    dispatcher = EffectDispatcher(ctx, workers=WORKERS, yield_to=lambda: timers.acting)
    ctx.dispatch = lambda _ctx: dispatcher.kick()
    dispatcher.start()
    timers.start()
    timers.wake_at(min(due.values()))
    # Watch the fake's memory, not the database: reading it meanwhile would add its own load.
    give_up = max(due.values()) + timedelta(seconds=SETTLE)
    while twilio.ask("count") < 2 * len(ids) and datetime.now(UTC) < give_up:
        time.sleep(0.25)
    twilio.ask("release")  # Carol's requests are answered now, so the workers can stop
    timers.shutdown()
    # Let a wake-up still at work finish (it is behind only when the target is missed by far)
    # before the pools close, rather than cut it off mid-transaction.
    if acting.acquire(timeout=60):
        acting.release()
    dispatcher.stop(grace=15)
    arrived, held = twilio.ask("report")
    with store.engine.connect() as connection:
        done, first, last = connection.execute(
            select(func.count(), func.min(EffectRow.created_at), func.max(EffectRow.done_at))
            .where(col(EffectRow.created_at) >= now, col(EffectRow.status) == "done")
        ).one()
    rate = done / (aware(last) - aware(first)).total_seconds() if done > 1 else 0.0
    lateness, claimed = [], []
    with store.transaction() as tx:
        for incident_id in ids:
            times = [arrived.get((incident_id, kind)) for kind in ("sms", "voice")]
            if all(times):
                lateness.append((max(t for t in times if t) - due[incident_id]).total_seconds())
            fired = [e.at for e in tx.events(incident_id) if e.kind == "escalated"]
            if fired:
                claimed.append((fired[0] - due[incident_id]).total_seconds())
    store.dispose()
    result = Result(database, scenario, lateness, claimed, missing=len(ids) - len(lateness),
                    held=held)
    print(f"  {database} {scenario}: {len(ids)} deadlines due over {SPREAD:.0f}s; "
          f"{done} effects performed, {rate:.0f}/s"
          + (f"; {result.held} requests for Carol held unanswered (up to {HANG_SECONDS:.0f}s)"
             if hang else ""), flush=True)
    return result


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if math.isfinite(seconds) else "never"


def _table(results: list[Result]) -> None:
    print(f"{'database':<11} {'scenario':<24} {'paged':>9} {'p50':>8} {'p99':>8} {'max':>8} "
          f"{'claim p99':>10}  p99 < 1 s")
    for r in results:
        paged = f"{len(r.lateness)}/{len(r.lateness) + r.missing}"
        figures = [_ms(r.percentile(q)) for q in (0.5, 0.99, 1.0)]
        claim = _ms(_percentile(r.claimed, 0.99)) if r.claimed else "-"
        print(f"{r.database:<11} {r.scenario:<24} {paged:>9} {figures[0]:>8} {figures[1]:>8} "
              f"{figures[2]:>8} {claim:>10}  {'yes' if r.percentile(0.99) < TARGET else 'NO'}")
    print("lateness: due_at -> the later of an incident's step-2 SMS and call reaching Twilio; "
          "claim: due_at -> its `escalated` event")


def _measure(twilio: TwilioProcess) -> list[Result]:
    databases = ["sqlite"] + (["postgresql"] if os.environ.get("FIREBELL_TEST_PG_URL") else [])
    if os.environ.get("BENCH_DATABASES"):  # e.g. BENCH_DATABASES=postgresql: profile just one
        databases = os.environ["BENCH_DATABASES"].split(",")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        catalog_path = Path(tmp) / "catalog.yaml"
        catalog_path.write_text(CATALOG)
        catalog = load_catalog(catalog_path)
        for database in databases:
            scratch = Scratch(database, Path(tmp))
            try:
                # Declared once; each scenario runs on a copy of that database.
                started = time.monotonic()
                template = scratch.create()
                ids = _set_up(scratch.url(template), catalog)
                print(f"  {database}: {len(ids)} incidents declared in "
                      f"{time.monotonic() - started:.1f}s", flush=True)
                for hang in (False, True):
                    url = scratch.url(scratch.create(copy_of=template))
                    results.append(_run(database, url, catalog, ids, twilio=twilio, hang=hang))
            finally:
                scratch.close()
    return results


def main() -> int:
    # This process is one of several on the machine: say how busy the machine was around it.
    before = os.getloadavg()[0]
    twilio = TwilioProcess(hang_seconds=HANG_SECONDS)  # forked before this bench starts any threads of its own
    try:
        results = _measure(twilio)
    finally:
        twilio.stop()
    _table(results)
    print(f"load average (1 min) {before:.1f} before, {os.getloadavg()[0]:.1f} after, "
          f"on {os.cpu_count()} CPUs")
    met = all(r.percentile(0.99) < TARGET for r in results)
    print(f"target p99 < {_ms(TARGET)} with and without the hang: {'met' if met else 'MISSED'}")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
