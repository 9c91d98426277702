"""The effect outbox on a real database, with real Slack wire calls (fake Slack on loopback):
a step and its effects commit together, effects are performed once even when an attempt is cut
off, pages do not wait for the channel, and one incident's hung pager holds nobody else."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from adapters.dispatcher import EffectDispatcher
from app import bootstrap
from bot.slack.chat import SlackChat, SlackPager
from storage.effect_tables import EffectRow
from storage.store import SqlStore
from tests.support.fakes import RecordingPager
from tests.support.slack_fake import FakeSlack
from tests.support.slack_helpers import BOT_TOKEN, DEMO_CATALOG
from workflows.catalog.load import load_catalog
from workflows.clock import FakeClock, ManualTimers
from workflows.context import Context
from workflows.dispatch import claim, drain
from workflows.incident.declare import DeclareRequest, declare
from workflows.model import Incident, Page, PageStatus
from workflows.ports import Message

START = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
REQUEST = DeclareRequest(title="Checkout down", service="checkout", severity="critical",
                         urgency="high", reporter="bob")


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


def _ctx(database_url: str, slack: FakeSlack, pager: object | None = None) -> Context:
    catalog = load_catalog(DEMO_CATALOG)
    chat = SlackChat.create(token=BOT_TOKEN, base_url=slack.api_url, catalog=catalog)
    pagers = {"chat": pager or SlackPager(chat)}
    return bootstrap(catalog=catalog, database_url=database_url, chat=chat,
                     clock=FakeClock(START), timers=ManualTimers(), pagers=pagers,  # type: ignore[dict-item]
                     dispatch=lambda _ctx: None)  # effects stay rows until a test performs them


def _effects(ctx: Context) -> list[tuple[str, str]]:
    engine = ctx.store.engine  # type: ignore[attr-defined]
    with engine.connect() as c:
        return [(k, s) for k, s in c.exec_driver_sql("SELECT kind, status FROM effects ORDER BY id")]


def test_declare_commits_the_incident_its_pages_and_every_effect_at_once(
    database_url: str, slack: FakeSlack
) -> None:
    ctx = _ctx(database_url, slack)
    incident = declare(ctx, REQUEST)
    # Nothing has left the process, and everything it owes is on record.
    assert slack.calls_to("conversations.create") == [] and slack.calls_to("chat.postMessage") == []
    kinds = [k for k, _ in _effects(ctx)]
    assert kinds[0] == "create_channel" and "page" in kinds and "post" in kinds
    with ctx.store.transaction() as tx:
        [page] = tx.pages(incident.id or 0)
        assert page.status == PageStatus.QUEUED and tx.pending_deadlines(incident.id or 0)
    drain(ctx, owner="test")
    assert {s for _, s in _effects(ctx)} == {"done"}
    assert len(slack.calls_to("conversations.create")) == 1
    assert slack.direct_messages("U0ALICE")  # alice (primary) paged by chat


def test_a_step_that_fails_owes_nothing(database_url: str, slack: FakeSlack) -> None:
    ctx = _ctx(database_url, slack)
    with pytest.raises(RuntimeError), ctx.unit() as uow:
        uow.post_to(channel="C1", message=Message("never"), incident_id=None)
        raise RuntimeError("the step broke after it wrote its effect")
    assert _effects(ctx) == []


def _cut_off(ctx: Context, kind: str) -> None:
    """As if the process died after the vendor took the effect but before it was marked done:
    the row is pending again, its lease run out."""
    engine = ctx.store.engine  # type: ignore[attr-defined]
    with engine.begin() as c:
        c.execute(update(EffectRow).where(EffectRow.kind == kind).values(
            status="pending", lease_until=START - timedelta(seconds=1)))


def test_a_post_cut_off_after_slack_took_it_is_not_posted_twice(
    database_url: str, slack: FakeSlack
) -> None:
    ctx = _ctx(database_url, slack)
    declare(ctx, REQUEST)
    drain(ctx, owner="first")
    posts = len(slack.calls_to("chat.postMessage"))
    welcome = [c for c in slack.calls_to("chat.postMessage") if c.params.get("metadata")]
    assert welcome, "channel posts carry their effect's key in Slack's metadata"
    _cut_off(ctx, "post")
    drain(ctx, owner="second")
    assert len(slack.calls_to("chat.postMessage")) == posts  # found by its key, not posted again
    assert slack.calls_to("conversations.history")


def test_a_channel_creation_cut_off_adopts_the_channel_it_made(
    database_url: str, slack: FakeSlack
) -> None:
    ctx = _ctx(database_url, slack)
    incident = declare(ctx, REQUEST)
    drain(ctx, owner="first")
    with ctx.store.transaction() as tx:
        made = tx.get_incident(incident.id or 0)
        made.channel = None  # the answer was lost: Firebell never learnt the channel's id
        tx.save_incident(made)
    _cut_off(ctx, "create_channel")
    drain(ctx, owner="second")
    assert len(slack.calls_to("conversations.create")) == 1
    with ctx.store.transaction() as tx:
        assert tx.get_incident(incident.id or 0).channel == next(iter(slack.channels))


def test_pages_go_out_while_slack_is_slow_to_create_the_channel(
    database_url: str, slack: FakeSlack
) -> None:
    pager = RecordingPager()
    ctx = _ctx(database_url, slack, pager)
    slack.inject("conversations.create", delay=3.0)
    declare(ctx, REQUEST)
    dispatcher = EffectDispatcher(ctx, workers=4, poll_seconds=0.05)
    dispatcher.start()
    try:
        started = time.monotonic()
        while not pager.sent and time.monotonic() - started < 10:
            time.sleep(0.01)
        assert pager.sent and not slack.calls_to("conversations.create")  # still on its way
    finally:
        dispatcher.stop(grace=5)


class _HangingPager:
    """Hangs every page of one incident until released; pages the others at once."""

    channels = frozenset({"chat"})

    def __init__(self, hung_incident: int) -> None:
        self.hung, self.release = hung_incident, threading.Event()
        self.sent: list[int] = []

    def send_page(self, *, page: Page, incident: Incident, message: Message) -> str:
        if incident.id == self.hung:
            self.release.wait(20)
        self.sent.append(page.incident_id)
        return f"ref-{page.id}"


def test_one_incidents_hung_pager_holds_no_other_incident(
    database_url: str, slack: FakeSlack
) -> None:
    pager = _HangingPager(hung_incident=1)
    ctx = _ctx(database_url, slack, pager)
    first = declare(ctx, REQUEST)
    assert first.id == 1
    dispatcher = EffectDispatcher(ctx, workers=4, poll_seconds=0.05)
    dispatcher.start()
    try:
        time.sleep(0.3)  # the first incident's page is now hanging at the vendor
        second = declare(ctx, REQUEST)
        dispatcher.kick()
        deadline = time.monotonic() + 10
        while second.id not in pager.sent and time.monotonic() < deadline:
            time.sleep(0.01)
        assert pager.sent == [second.id]  # went out while the first still hangs
        pager.release.set()
        deadline = time.monotonic() + 10
        while len(pager.sent) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sorted(pager.sent) == [1, 2]
    finally:
        pager.release.set()
        dispatcher.stop(grace=5)
    with SqlStore(database_url).transaction() as tx:
        assert [p.status for p in tx.pages(1)] == [PageStatus.SENT]


def test_a_long_queue_of_waiting_chat_effects_never_keeps_a_page_out(
    database_url: str, slack: FakeSlack
) -> None:
    ctx = _ctx(database_url, slack)
    first = declare(ctx, REQUEST)
    # A process claimed the first incident's channel and died holding it: everything that
    # incident posts waits behind it until the lease runs out.
    held = claim(ctx, owner="dead", limit=10)
    assert "create_channel" in {e.kind.value for e in held}
    with ctx.unit() as uow:
        for n in range(200):
            uow.post(first, Message(f"update {n}"))
    second = declare(ctx, REQUEST)
    batch = claim(ctx, owner="alive", limit=4)
    assert [(e.kind.value, e.incident_id) for e in batch if e.kind.value == "page"] == [
        ("page", second.id)]


def test_a_restart_takes_over_the_leases_of_its_dead_predecessor_soon(
    database_url: str, slack: FakeSlack
) -> None:
    ctx = _ctx(database_url, slack)
    declare(ctx, REQUEST)
    ended = subprocess.Popen(["true"])
    ended.wait()  # reaped: its pid names no process any more
    dead = f"{socket.gethostname()}:{ended.pid}:x"
    held = claim(ctx, owner=dead, limit=10)
    alive = f"{socket.gethostname()}:{os.getpid()}:other"  # this very process: alive
    declare(ctx, REQUEST)  # another incident, whose effects a living process holds
    kept = claim(ctx, owner=alive, limit=10)
    dispatcher = EffectDispatcher(ctx, workers=1, poll_seconds=60)
    dispatcher.start()
    dispatcher.stop(grace=1)
    with ctx.unit() as uow:
        leases = {e.id: e.lease_until for e in uow.outbox.pending_effects()}
    assert held and all(leases[e.id] <= START + timedelta(seconds=15) for e in held)
    assert kept and all(leases[e.id] > START + timedelta(seconds=60) for e in kept)
