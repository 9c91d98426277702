"""Fault test: `firebell serve` pages through (fake) Twilio while it is killed with SIGKILL at
random moments, again and again. Against the fake's record: no page is lost, none goes out twice,
and after a long downtime each incident is paged for one step, not once per step it missed.

Twilio answers slowly on purpose (FAKE_LATENCY), so that many kills land while a page is on the
wire: between the claim and Twilio's answer, or between Twilio's answer and the store's "sent".
"""

from __future__ import annotations

import os
import random
import textwrap
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from app import build_console_context
from tests.support.fakes import RecordingChat
from tests.support.serve import Serve
from tests.support.slack_helpers import free_port
from tests.support.twilio_fake import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, FakeTwilio
from workflows.clock import SystemClock
from workflows.context import Context
from workflows.incident.declare import DeclareRequest, declare
from workflows.incident.respond import acknowledge
from workflows.model import Incident, Page, PageStatus, State
from workflows.ports import ExternalServiceError, Message

pytestmark = pytest.mark.slow

CYCLES = 20
ACK_TIMEOUT = 2  # seconds, every step
FAKE_LATENCY = 0.15  # seconds Twilio takes to answer a POST
PAGE_LEASE = 8  # seconds a page's delivery is held: far beyond FAKE_LATENCY

CATALOG = textwrap.dedent(f"""\
    timezone: UTC
    people:
      - {{id: alice, name: Alice, phone: "+15550100001"}}
      - {{id: bob, name: Bob, phone: "+15550100002"}}
      - {{id: carol, name: Carol, phone: "+15550100003"}}
      - {{id: dave, name: Dave, phone: "+15550100004"}}
    teams:
      - {{id: payments, name: Payments, escalation_policy: payments}}
    services:
      - {{id: checkout, name: Checkout API, team: payments, match: {{service: checkout}}}}
    escalation_policies:
      - id: payments
        repeat: 1
        steps:
          - {{notify: ["person:alice"], ack_timeout: {ACK_TIMEOUT}s}}
          - {{notify: ["person:bob"], ack_timeout: {ACK_TIMEOUT}s}}
          - {{notify: ["person:carol"], ack_timeout: {ACK_TIMEOUT}s}}
          - {{notify: ["person:dave"], ack_timeout: {ACK_TIMEOUT}s}}
    priorities:
      matrix:
        critical: {{high: P1, low: P2}}
        major: {{high: P2, low: P3}}
        minor: {{high: P3, low: P4}}
      response:
        P1: {{page: true, ack_within: 2s, channels: [voice, sms], update_every: 1h, monitor_for: 1h}}
        P2: {{page: true, ack_within: 2s, channels: [sms], update_every: 1h, monitor_for: 1h}}
        P3: {{page: false, ack_within: 8h business, channels: [chat]}}
        P4: {{page: false, ack_within: 5d business, channels: [ticket]}}
""")


class _NotHere:
    """The test process only declares; the server is the one that pages."""

    channels: frozenset[str] = frozenset({"sms", "voice"})

    def send_page(self, *, page: Page, incident: Incident, message: Message) -> str:
        raise ExternalServiceError("the test process does not page", retryable=False)


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio() as fake:
        fake.latency = FAKE_LATENCY
        yield fake


def _declarer(catalog: Path, database_url: str) -> Context:
    pager = _NotHere()
    ctx = build_console_context(
        catalog_path=catalog, database_url=database_url, clock=SystemClock(),
        timers=_NoTimers(), chat=RecordingChat(), pagers={"sms": pager, "voice": pager},
    )
    # The declaring process commits the effects and performs none: the server (when it runs)
    # claims and performs them.
    ctx.dispatch = lambda _ctx: None
    return ctx


class _NoTimers:
    def wake_at(self, when: object) -> None:
        pass


def _declare(ctx: Context, n: int, priority: str = "critical") -> list[int]:
    ids = []
    for i in range(n):
        incident = declare(ctx, DeclareRequest(
            title=f"Fault {i}", service="checkout", severity=priority, urgency="high"))
        assert incident.id is not None
        ids.append(incident.id)
    return ids


def _pages(ctx: Context) -> dict[int, Page]:
    with ctx.store.transaction() as tx:
        return {p.id: p for i in tx.list_incidents(open_only=False, limit=10_000)
                for p in tx.pages(i.id or 0) if p.id is not None}


def test_sigkill_at_random_moments_neither_loses_nor_doubles_a_page(
    tmp_path: Path, twilio: FakeTwilio
) -> None:
    rng = random.Random(int(os.environ.get("FIREBELL_FAULT_SEED", "4")))
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(CATALOG)
    database_url = f"sqlite:///{tmp_path / 'firebell.db'}"
    port = free_port()
    env = {
        **os.environ, "FIREBELL_CONFIG": str(catalog), "DATABASE_URL": database_url,
        "HOST": "127.0.0.1", "PORT": str(port), "PUBLIC_URL": f"http://127.0.0.1:{port}",
        "FIREBELL_POLL_SECONDS": "1", "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_FROM_NUMBER": FROM_NUMBER,
        "TWILIO_API_URL": twilio.api_url,
        # Twilio answers in FAKE_LATENCY here: a short lease lets the test settle in seconds.
        "FIREBELL_PAGE_LEASE_SECONDS": str(PAGE_LEASE),
    }
    for key in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"):
        env.pop(key, None)
    ctx = _declarer(catalog, database_url)
    serve = Serve(env, tmp_path / "serve.log")
    try:
        # 1. Many escalations, and a SIGKILL at a random moment in each cycle.
        _declare(ctx, 3)
        for cycle in range(CYCLES):
            serve.start()
            if cycle % 4 == 0:
                _declare(ctx, 2, rng.choice(["critical", "major"]))
            time.sleep(rng.uniform(0.1, 1.5))
            serve.kill()
            time.sleep(rng.uniform(0.0, 0.3))

        # 2. A long downtime: longer than several steps.
        with ctx.store.transaction() as tx:
            earlier = [i.id for i in tx.list_incidents(limit=10_000) if i.state == State.TRIGGERED]
        for incident_id in earlier:
            acknowledge(ctx, incident_id=incident_id or 0, person="dave")
        serve.start()
        fresh = _declare(ctx, 3, "major")
        twilio.wait_for(lambda: _paged_steps(ctx, twilio, fresh) == {i: {(0, 0)} for i in fresh},
                        timeout=10)
        serve.kill()
        before = len(twilio.sent)
        time.sleep(4 * ACK_TIMEOUT + 1)
        serve.start()
        time.sleep(ACK_TIMEOUT * 0.6)  # well inside the ack timeout of the step paged now
        new = [s for s in twilio.sent[before:] if s.page is not None]
        pages = _pages(ctx)
        steps: dict[int, set[tuple[int, int]]] = {}
        for sent in new:
            page = pages[sent.page or 0]
            steps.setdefault(page.incident_id, set()).add((page.round, page.step))
        for incident_id in fresh:
            assert len(steps.get(incident_id, set())) == 1, (
                f"incident {incident_id} after a long downtime: paged for steps "
                f"{sorted(steps.get(incident_id, set()))}")
        for incident_id in fresh:
            acknowledge(ctx, incident_id=incident_id, person="dave")

        # 3. Let everything settle (a page in doubt is settled once its delivery's lease ran out).
        settle_until = time.monotonic() + PAGE_LEASE + 15
        while time.monotonic() < settle_until:
            pages = _pages(ctx)
            busy = [p for p in pages.values() if p.status in (PageStatus.QUEUED, PageStatus.SENDING)]
            with ctx.store.transaction() as tx:
                triggered = [i for i in tx.list_incidents(limit=10_000)
                             if i.state == State.TRIGGERED]
            if not busy and not triggered:
                break
            time.sleep(0.5)
        serve.stop()
    finally:
        serve.stop()

    pages = _pages(ctx)
    by_page = Counter(s.page for s in twilio.sent)
    assert None not in by_page, "Twilio got a page without a status callback"
    # None sent twice: per page, and per incident + step + person + channel.
    assert [p for p, n in by_page.items() if n > 1] == []
    keys = Counter((pages[p].incident_id, pages[p].round, pages[p].step, pages[p].person,
                    pages[p].channel) for p in by_page if p is not None)
    assert [k for k, n in keys.items() if n > 1] == []
    # None lost: every page is settled; every page marked sent is one Twilio took, with its SID.
    unsettled = [p for p in pages.values() if p.status in (PageStatus.QUEUED, PageStatus.SENDING)]
    assert unsettled == [], (serve.log.read_text()[-3000:], unsettled)
    sids = {s.page: s.sid for s in twilio.sent}
    for page in pages.values():
        if page.status in (PageStatus.SENT, PageStatus.ACKNOWLEDGED) and page.ref:
            # Exact for SMS (the body names the page). A call found after a crash is matched by
            # number and time, so two calls to one person within a second may swap their SIDs.
            assert sids.get(page.id) == page.ref or page.channel == "voice", page
        if page.status == PageStatus.SENT:
            assert page.id in sids, f"page {page.id} marked sent but Twilio never got it"
        if page.status == PageStatus.CANCELLED:
            assert page.id not in sids
    # Every step the escalation reached produced its pages, unless a later step overtook it
    # while the server was down (the "once, not once per missed step" rule).
    by_step: dict[tuple[int, int, int], list[Page]] = {}
    for page in pages.values():
        by_step.setdefault((page.incident_id, page.round, page.step), []).append(page)
    for (incident_id, round_, step), group in by_step.items():
        statuses = {p.status for p in group}
        went_out = [p for p in group if p.id in sids]
        overtaken = all(p.status == PageStatus.CANCELLED for p in group)
        assert went_out or overtaken, (incident_id, round_, step, statuses)
    with ctx.store.transaction() as tx:
        incidents = tx.list_incidents(open_only=False, limit=10_000)
        for incident in incidents:
            assert incident.id is not None
            reached = {(e.data.get("round"), e.data.get("step")) for e in tx.events(incident.id)
                       if e.kind == "escalated"} | {(0, 0)}
            have = {(p.round, p.step) for p in tx.pages(incident.id)}
            assert reached <= have, (incident.id, reached - have)
    in_doubt = sum(1 for i in incidents for e in _events(ctx, i) if e == "page_in_doubt")
    print(f"\n{len(incidents)} incidents, {len(pages)} pages, {len(twilio.sent)} at Twilio, "
          f"{in_doubt} settled after a crash left them in doubt, "
          f"{sum(p.status == PageStatus.CANCELLED for p in pages.values())} overtaken/cancelled")


def _events(ctx: Context, incident: Incident) -> list[str]:
    with ctx.store.transaction() as tx:
        return [e.kind for e in tx.events(incident.id or 0)]


def _paged_steps(ctx: Context, twilio: FakeTwilio, ids: list[int]) -> dict[int, set[tuple[int, int]]]:
    pages = _pages(ctx)
    found: dict[int, set[tuple[int, int]]] = {i: set() for i in ids}
    for sent in list(twilio.sent):
        page = pages.get(sent.page or 0)
        if page is not None and page.incident_id in found:
            found[page.incident_id].add((page.round, page.step))
    return found
