"""Fault injection: `firebell serve` as a process, its vendors slow, hung or failing, killed with
SIGKILL and stopped with SIGTERM at each effect boundary, then restarted on the same database.

Slack and Twilio are the loopback fakes (`tests/support/slack_fake.py`, `tests/support/twilio_fake.py`); a test
makes one call of theirs slow or hang (`inject`) and waits until that call *arrives* at the fake
(`wait_arrival`): the server is then killed exactly while that effect is in flight. After the
restart and a settling time, every case checks the end state from outside:

- one incident per signal;
- each page exactly once per person and channel, counted at the fakes (Twilio messages and calls
  per phone, Slack DMs with the incident's Acknowledge button per user);
- no `effects` row left pending, no page left queued or sending (read from the database);
- the incident paged: not stuck in `triggered` without a page and without a deadline;
- after a SIGTERM, the process exited within its grace having finished or given back every
  effect it held, unless a vendor call still hung when the grace ran out.

Situations of issue 9 observable from outside: (1) SIGTERM during a slow conversations.create;
(2) a kill while an alert opens its incident; (3) a slow Twilio without restart; (4) one
incident's hung Twilio never delays another's pages; (6) a slow Slack never delays the first page.
(5) replays and (7) the database down are tests/e2e/test_slack_replays.py and tests/e2e/test_db_down.py.

The kill cases run on SQLite and PostgreSQL; two replicas run on PostgreSQL.

Effect leases: after a SIGKILL, an effect the dead process held is taken over when its lease
ends (90 s, pages 150 s: longer than one attempt with all its retries). The kill cases start the
server with a shorter lease (`KILL_LEASE`), longer than any call the fakes hold up in a *live*
process, so the restart does not wait minutes; the cases without a restart keep the real leases.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import textwrap
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from tests.support.fake_faults import Fault
from tests.support.serve import Serve
from tests.support.slack_fake import Call, FakeSlack
from tests.support.slack_helpers import BOT_TOKEN, SIGNING_SECRET, SlackSender, free_port
from tests.support.twilio_fake import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    FROM_NUMBER,
    FakeTwilio,
    Sent,
    signed_post,
)

pytestmark = pytest.mark.slow

WEBHOOK_TOKEN = "fault-injection-webhook-token"
PEOPLE = {  # id -> (phone, Slack id)
    "alice": ("+15550100001", "U0ALICE"),
    "bob": ("+15550100002", "U0BOB"),
    "carol": ("+15550100003", "U0CAROL"),
    "erin": ("+15550100005", "U0ERIN"),
}
CHANNELS = ("sms", "voice", "chat")  # how a P1/P2 pages each person, all at once
SLOW = ("10m", "10m", "10m")  # no test outlives step 1
FAST = 3  # seconds: an ack timeout short enough to watch an escalation
QUICK = (f"{FAST}s", f"{FAST}s", f"{FAST}s")  # the whole escalation within 3 * FAST
# Step 2 outlasts a kill, a restart and a lease: its pages are still due when the restarted
# server takes them over. (Past its timeout, step 3 would overtake them: a page of a step the
# escalation has left is cancelled, not sent late; see workflows/paging/delivery.py `_stale`.)
STEP_2_OUTLASTS_A_RESTART = (f"{FAST}s", "40s", "10m")
KILL_LEASE = 5.0  # seconds; longer than any call a live server of these tests waits for
SLOW_SLACK = 6.0  # seconds conversations.create takes when Slack is slow


def catalog(steps: tuple[str, str, str]) -> str:
    """Alice, then Bob, then Carol, with these ack timeouts; every channel at once."""
    people = "\n".join(
        f'  - {{id: {pid}, name: {pid.title()}, phone: "{phone}", slack: {slack}}}'
        for pid, (phone, slack) in PEOPLE.items())
    return textwrap.dedent("""\
        timezone: UTC
        people:
        {people}
        teams:
          - {{id: payments, name: Payments, slack_channel: C0PAYMENTS, escalation_policy: payments}}
        services:
          - {{id: checkout, name: Checkout API, team: payments, match: {{service: checkout}}}}
          - {{id: ledger, name: Ledger, team: payments, match: {{service: ledger}}}}
        escalation_policies:
          - id: payments
            repeat: 0
            steps:
              - {{notify: ["person:alice"], ack_timeout: {t[0]}}}
              - {{notify: ["person:bob"], ack_timeout: {t[1]}}}
              - {{notify: ["person:carol"], ack_timeout: {t[2]}}}
        priorities:
          matrix:
            critical: {{high: P1, low: P2}}
            major: {{high: P2, low: P3}}
            minor: {{high: P3, low: P4}}
          response:
            P1: {{page: true, ack_within: {t[0]}, channels: [voice, sms, chat], update_every: 1h, monitor_for: 1h}}
            P2: {{page: true, ack_within: {t[0]}, channels: [voice, sms, chat], update_every: 1h, monitor_for: 1h}}
            P3: {{page: false, ack_within: 8h, channels: [chat]}}
            P4: {{page: false, ack_within: 5d, channels: [ticket]}}
        intake:
          auto_resolve: true
        """).format(people=people, t=steps)


# `firebell serve`, optionally with a shorter lease for every kind of effect (see the module
# docstring): pages take FIREBELL_PAGE_LEASE_SECONDS, a setting; the other kinds' leases are
# the defaults every context starts from.
_LAUNCH = """\
import os, sys
from workflows.outbox import LEASE_SECONDS
lease = os.environ.get("FIREBELL_TEST_LEASE_SECONDS")
if lease:
    for kind in LEASE_SECONDS:
        LEASE_SECONDS[kind] = float(lease)
import app
sys.exit(app.main(["serve"]))
"""


class Server(Serve):
    """One `firebell serve` process (with short leases); it can be killed and started again on
    the same port."""

    command = ("-c", _LAUNCH)
    healthy_within = 30.0

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def terminate(self, *, within: float, meanwhile: Callable[[], None] | None = None) -> float:
        """SIGTERM, then `meanwhile()` a second later, while it stops; returns how long the
        process took to exit (it must within `within` s)."""
        assert self.process is not None
        sent = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        if meanwhile is not None:
            time.sleep(1.0)
            meanwhile()
        try:
            self.process.wait(timeout=within)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
            raise AssertionError(f"SIGTERM: still running after {within}s\n{self.tail()}") from None
        return time.monotonic() - sent

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def tail(self) -> str:
        """The log's warnings and errors (the scheduler's INFO lines are noise here)."""
        lines = self.log.read_text(errors="replace").splitlines()
        kept = [line for line in lines if " INFO " not in line]
        return "\n".join(kept)[-4000:]


class World:
    """Fake Slack and Twilio, one database, and the `firebell serve` processes on it."""

    def __init__(self, tmp_path: Path, database_url: str, *, steps: tuple[str, str, str],
                 lease: float | None) -> None:
        self.tmp_path, self.database_url, self.lease = tmp_path, database_url, lease
        self.slack = FakeSlack().start()
        self.twilio = FakeTwilio().start()
        self.catalog = tmp_path / "catalog.yaml"
        self.catalog.write_text(catalog(steps))
        self.servers: list[Server] = []
        self.db: Engine = create_engine(database_url)

    def close(self) -> None:
        for server in self.servers:
            server.stop()
        self.slack.stop()
        self.twilio.stop()
        self.db.dispose()

    def server(self) -> Server:
        port = free_port()
        env = {
            **os.environ, "FIREBELL_CONFIG": str(self.catalog), "DATABASE_URL": self.database_url,
            "HOST": "127.0.0.1", "PORT": str(port), "PUBLIC_URL": f"http://127.0.0.1:{port}",
            "FIREBELL_POLL_SECONDS": "1", "FIREBELL_WEBHOOK_TOKEN": WEBHOOK_TOKEN,
            "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": self.slack.api_url, "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_FROM_NUMBER": FROM_NUMBER,
            "TWILIO_API_URL": self.twilio.api_url,
        }
        for key in ("SLACK_APP_TOKEN", "FIREBELL_WORKERS", "FIREBELL_TEST_LEASE_SECONDS",
                    "FIREBELL_PAGE_LEASE_SECONDS"):
            env.pop(key, None)
        if self.lease is not None:
            env["FIREBELL_TEST_LEASE_SECONDS"] = env["FIREBELL_PAGE_LEASE_SECONDS"] = str(self.lease)
        server = Server(env, self.tmp_path / f"serve-{len(self.servers)}.log")
        self.servers.append(server)
        return server

    def logs(self) -> str:
        return "\n".join(f"--- {s.log.name}\n{s.tail()}" for s in self.servers)

    # signals ------------------------------------------------------------------------------
    def declare(self, server: Server, title: str, *, service: str = "checkout") -> int:
        """`/incident declare` as Erin, signed; returns the incident Firebell reports."""
        sender = SlackSender(server.url, self.slack)
        try:
            response, key = sender.command(
                "/incident", f"declare service={service} severity=critical urgency=high {title}",
                user="U0ERIN")
        finally:
            sender.close()
        assert response.status_code == 200, response.text
        [answer] = self.slack.wait_for_response(key, timeout=10)
        assert "Declared INC-" in answer, answer
        return int(answer.split("Declared INC-")[1].split()[0])

    def enqueue(self, server: Server, dedup_key: str, *, service: str = "checkout") -> int:
        """A PagerDuty Events v2 trigger; returns the incident it opened."""
        event = {"routing_key": WEBHOOK_TOKEN, "event_action": "trigger", "dedup_key": dedup_key,
                 "payload": {"summary": f"{service} is failing", "source": "db1",
                             "severity": "critical", "component": service,
                             "custom_details": {"urgency": "high"}}}
        answer = httpx.post(f"{server.url}/v2/enqueue", json=event, timeout=10)
        assert answer.status_code == 202, answer.text
        with self.db.connect() as c:
            row = c.execute(text(
                "SELECT g.incident_id FROM alerts a JOIN alert_groups g ON g.id = a.group_id "
                "WHERE a.dedup_key = :key"), {"key": dedup_key}).first()
        assert row is not None and row[0] is not None, f"alert {dedup_key} opened no incident"
        return int(row[0])

    def alertmanager(self, server: Server, fingerprint: str, *, status: str = "firing") -> list[int]:
        labels = {"alertname": "HighErrorRate", "service": "checkout", "severity": "critical"}
        body = {
            "version": "4", "groupKey": "{}:{alertname=\"HighErrorRate\"}", "truncatedAlerts": 0,
            "status": status, "receiver": "firebell", "groupLabels": {"alertname": "HighErrorRate"},
            "commonLabels": labels, "commonAnnotations": {}, "externalURL": "http://am:9093",
            "alerts": [{"status": status, "labels": labels,
                        "annotations": {"summary": "5xx above 5%"},
                        "startsAt": "2026-11-24T09:29:00Z", "endsAt": "0001-01-01T00:00:00Z",
                        "generatorURL": "http://prometheus:9090/graph", "fingerprint": fingerprint}],
        }
        answer = httpx.post(f"{server.url}/webhooks/alertmanager", json=body, timeout=10,
                            headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"})
        assert answer.status_code == 200, answer.text
        return list(answer.json()["incidents"])

    def sms_reply(self, server: Server, person: str, body: str) -> str:
        """An SMS reply, posted and signed the way Twilio does; returns the TwiML answer."""
        answer = signed_post(f"{server.url}/twilio/sms", {
            "From": PEOPLE[person][0], "To": FROM_NUMBER, "Body": body,
            "MessageSid": "SM" + "0" * 32, "AccountSid": ACCOUNT_SID})
        assert answer.status_code == 200, answer.text
        return answer.text

    # what the vendors got -------------------------------------------------------------------
    def twilio_sent(self, person: str, channel: str, incident: int) -> list[Sent]:
        return [s for s in list(self.twilio.sent) if s.kind == channel
                and s.to == PEOPLE[person][0] and _incident_of(s) == incident]

    def page_dms(self, person: str, incident: int) -> list[Call]:
        """Slack DMs to `person` that carry this incident's Acknowledge button (chat pages)."""
        return [c for c in self.slack.direct_messages(PEOPLE[person][1])
                if _has_ack_button(c.params.get("blocks"), incident)]

    def delivered(self, person: str, channel: str, incident: int) -> int:
        if channel == "chat":
            return len(self.page_dms(person, incident))
        return len(self.twilio_sent(person, channel, incident))

    def channels_created(self, incident: int) -> list[Call]:
        return [c for c in self.slack.calls_to("conversations.create")
                if f"-{incident}-" in str(c.params.get("name"))]

    # the database ---------------------------------------------------------------------------
    def rows(self, sql: str, **params: Any) -> list[Any]:
        with self.db.connect() as c:
            return list(c.execute(text(sql), params))

    def held_effects(self) -> list[Any]:
        """Effects a process claimed and neither finished nor gave back."""
        return self.rows("SELECT id, kind, incident_id, lease_owner FROM effects "
                         "WHERE status = 'pending' AND lease_owner IS NOT NULL ORDER BY id")

    def holder_of(self, person: str, channel: str, incident: int) -> str:
        """The lease owner (host:pid:...) of the pending effect that delivers this page."""
        [(page,)] = self.rows("SELECT id FROM pages WHERE incident_id = :i AND person = :p AND "
                              "channel = :c", i=incident, p=person, c=channel)
        for payload, owner in self.rows("SELECT payload, lease_owner FROM effects WHERE "
                                        "kind = 'page' AND status = 'pending'"):
            data = json.loads(payload) if isinstance(payload, str) else payload
            if data.get("page") == page and owner:
                return str(owner)
        raise AssertionError(f"nobody holds the delivery of page {page}")

    def pending_effects(self) -> list[Any]:
        return self.rows("SELECT id, kind, incident_id, attempts, lease_until, error "
                         "FROM effects WHERE status = 'pending' ORDER BY id")

    def incident_ids(self) -> list[int]:
        return [r[0] for r in self.rows("SELECT id FROM incidents ORDER BY id")]

    def state(self, incident: int) -> str:
        [(state,)] = self.rows("SELECT state FROM incidents WHERE id = :i", i=incident)
        return str(state)

    def settle(self, *, until: Callable[[], bool] = lambda: True, timeout: float = 30.0,
               quiet: float = 0.5) -> None:
        """Wait until no effect is pending and `until()` holds, then `quiet` s more in which a
        late duplicate would show."""
        deadline = time.monotonic() + timeout
        while not (until() and not self.pending_effects()):
            if time.monotonic() > deadline:
                raise AssertionError(f"not settled within {timeout}s: pending effects "
                                     f"{self.pending_effects()}\n{self.logs()}")
            time.sleep(0.2)
        time.sleep(quiet)

    def assert_end_state(self, incident: int, *, paged: list[str], not_paged: Sequence[str] = (),
                         state: str | None = None) -> None:
        """Each person in `paged` got each channel's page exactly once, nobody else got any,
        nothing is left pending, and the incident is not stuck unpaged."""
        counts = {(p, ch): self.delivered(p, ch, incident) for p in [*paged, *not_paged]
                  for ch in CHANNELS}
        wanted = {(p, ch): 1 if p in paged else 0 for p in [*paged, *not_paged] for ch in CHANNELS}
        assert counts == wanted, f"pages of incident {incident} at the fakes:\n{self.logs()}"
        assert self.pending_effects() == []
        stuck = self.rows("SELECT id, person, channel, status FROM pages "
                          "WHERE status IN ('queued', 'sending')")
        assert stuck == [], stuck
        doubled = self.rows(
            "SELECT person, channel, step, round, count(*) FROM pages WHERE incident_id = :i "
            "GROUP BY person, channel, step, round HAVING count(*) > 1", i=incident)
        assert doubled == [], doubled
        [(channel,)] = self.rows("SELECT channel FROM incidents WHERE id = :i", i=incident)
        texts = [str(c.params.get("text")) for c in self.slack.calls_to("chat.postMessage")
                 if channel and c.params.get("channel") == channel]
        assert len(texts) == len(set(texts)), f"the channel reads a message twice: {texts}"
        now_state = self.state(incident)
        if state is not None:
            assert now_state == state
        if now_state == "triggered":
            pages = self.rows("SELECT count(*) FROM pages WHERE incident_id = :i AND status = "
                              "'sent'", i=incident)[0][0]
            deadlines = self.rows("SELECT count(*) FROM deadlines WHERE incident_id = :i AND "
                                  "kind = 'escalate' AND NOT done", i=incident)[0][0]
            escalated_to_end = {p for p in paged} >= {"alice", "bob", "carol"}
            assert pages and (deadlines or escalated_to_end), (
                f"incident {incident} is triggered with {pages} sent page(s) and "
                f"{deadlines} escalation deadline(s)")

    def assert_one_incident_per_signal(self, expected: int) -> None:
        assert len(self.incident_ids()) == expected, self.incident_ids()
        orphans = self.rows("SELECT id FROM alert_groups WHERE incident_id IS NULL")
        assert orphans == [], f"alert groups left without incident: {orphans}"


def _incident_of(sent: Sent) -> int | None:
    query = dict(parse_qsl(urlsplit(sent.status_callback or "").query))
    return int(query["incident"]) if query.get("incident", "").isdigit() else None


def _has_ack_button(blocks: Any, incident: int) -> bool:
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    for block in blocks or []:
        for element in block.get("elements", []) if isinstance(block, dict) else []:
            if (isinstance(element, dict) and element.get("action_id") == "firebell_ack"
                    and element.get("value") == str(incident)):
                return True
    return False


def _to(person: str) -> dict[str, str]:
    return {"To": PEOPLE[person][0]}


def _stop(world: World, server: Server, how: str, *, release: Fault | None = None,
          hung_past_grace: bool = False) -> None:
    """SIGKILL; or SIGTERM, and the process must be gone within its grace (uvicorn's 10 s for
    requests in flight, there are none here, then 10 s for effects in flight).

    After a SIGTERM every effect the process held is finished or given back, so the restarted
    process need not wait for a lease: `release` lets the hung call go a second into the stop,
    so it can finish within the grace. Only a call still hung when the grace runs out
    (`hung_past_grace`) is left to its lease, as it may have reached the vendor."""
    if how == "SIGKILL":
        server.kill()
        return
    took = server.terminate(within=25, meanwhile=release.release if release else None)
    print(f"SIGTERM: exited after {took:.1f}s")
    if not hung_past_grace:
        assert world.held_effects() == [], (
            f"SIGTERM: exited after {took:.1f}s holding effects in flight; the restart must "
            f"wait for their leases\n{server.tail()}")


@pytest.fixture
def make_world(tmp_path: Path, database_url: str) -> Iterator[Callable[..., World]]:
    made: list[World] = []

    def make(*, steps: tuple[str, str, str] = SLOW, lease: float | None = KILL_LEASE) -> World:
        world = World(tmp_path, database_url, steps=steps, lease=lease)
        made.append(world)
        return world

    yield make
    for world in made:
        world.close()


@pytest.fixture
def sqlite_only(database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("no restart and no database race here: SQLite is enough")


@pytest.fixture
def postgres_only(database_url: str) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("replicas want PostgreSQL")


# Declare ------------------------------------------------------------------------------------
def test_declare_killed_while_the_channel_and_the_first_sms_are_in_flight(
    make_world: Callable[..., World],
) -> None:
    """SIGKILL while conversations.create is slow (Slack made the channel, its answer takes 6 s
    and is lost) and Alice's SMS hangs at Twilio (it never took it). The restart adopts the
    channel by its name instead of making a second one, and texts Alice once."""
    world = make_world()
    create = world.slack.inject("conversations.create", accept_then_sleep=SLOW_SLACK, times=1)
    sms = world.twilio.inject("sms", hang=True, equals=_to("alice"), times=1)
    server = world.server().start()
    incident = world.declare(server, "Checkout is down")
    create.wait_arrival()
    sms.wait_arrival()
    server.kill()

    server.start()
    world.settle(until=lambda: world.delivered("alice", "sms", incident) >= 1
                 and len(create.answered) == 1, timeout=40)
    world.assert_one_incident_per_signal(1)
    world.assert_end_state(incident, paged=["alice"], not_paged=["bob", "carol", "erin"],
                           state="triggered")
    assert len(world.channels_created(incident)) == 1, world.channels_created(incident)


def test_sigterm_during_a_slow_channel_creation_still_pages_and_finishes(
    make_world: Callable[..., World],
) -> None:
    """Situation 1: a routine deploy (SIGTERM) 1.5 s into a 6 s conversations.create."""
    world = make_world()
    create = world.slack.inject("conversations.create", delay=SLOW_SLACK, times=1)
    server = world.server().start()
    incident = world.declare(server, "Deploy during declare")
    create.wait_arrival()
    time.sleep(1.5)
    _stop(world, server, "SIGTERM")
    # Graceful: the channel the server was making was made and kept, nothing waits on a lease.
    assert len(create.answered) == 1

    server.start()
    world.settle(timeout=20)
    world.assert_one_incident_per_signal(1)
    world.assert_end_state(incident, paged=["alice"], not_paged=["bob", "carol"],
                           state="triggered")
    assert len(world.channels_created(incident)) == 1
    [(channel,)] = world.rows("SELECT channel FROM incidents WHERE id = :i", i=incident)
    welcome = [c for c in world.slack.calls_to("chat.postMessage", channel=channel)
               if "Declared by" in str(c.params.get("text"))]
    assert len(welcome) == 1, welcome  # posted after the restart, once


# Alert opening -------------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_alert_opening_stopped_while_the_first_sms_is_in_flight(
    make_world: Callable[..., World], how: str,
) -> None:
    """Situation 2: Twilio took Alice's SMS and its answer hangs when the server is stopped
    (after a SIGTERM the answer comes a second later, within the grace). After the restart: no
    second incident, no second SMS."""
    world = make_world()
    sms = world.twilio.inject("sms", hang=True, accepted=True, equals=_to("alice"), times=1)
    server = world.server().start()
    incident = world.enqueue(server, "db-down-1")
    sms.wait_arrival()
    _stop(world, server, how, release=sms)

    server.start()
    # The monitor sends the alert again while it fires: a duplicate, not a second incident.
    assert world.enqueue(server, "db-down-1") == incident
    world.settle(timeout=40)
    world.assert_one_incident_per_signal(1)
    world.assert_end_state(incident, paged=["alice"], not_paged=["bob", "carol"],
                           state="triggered")
    assert len(world.channels_created(incident)) == 1


def test_alert_opening_killed_while_the_channel_is_being_created(
    make_world: Callable[..., World],
) -> None:
    """Situation 2, the other boundary: killed while conversations.create hangs (Slack never
    made it). The incident is paged anyway and gets its channel after the restart."""
    world = make_world()
    create = world.slack.inject("conversations.create", hang=True, times=1)
    server = world.server().start()
    [incident] = world.alertmanager(server, "fp-checkout-1")
    create.wait_arrival()
    world.twilio.wait_for(lambda: world.delivered("alice", "sms", incident), timeout=5)
    server.kill()

    server.start()
    world.alertmanager(server, "fp-checkout-1")  # Alertmanager resends while it fires
    world.settle(until=lambda: bool(world.channels_created(incident)), timeout=40)
    world.assert_one_incident_per_signal(1)
    world.assert_end_state(incident, paged=["alice"], not_paged=["bob", "carol"],
                           state="triggered")
    assert len(world.channels_created(incident)) == 1


# Escalation ----------------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_escalation_step_stopped_while_its_sms_is_in_flight(
    make_world: Callable[..., World], how: str,
) -> None:
    """Nobody acknowledges; step 2's SMS to Bob hangs at Twilio (it never took it) and the
    server is stopped; a SIGTERM's grace runs out while it hangs. After the restart Bob is
    texted once, and step 3 is still due."""
    world = make_world(steps=STEP_2_OUTLASTS_A_RESTART)
    sms = world.twilio.inject("sms", hang=True, equals=_to("bob"), times=1)
    server = world.server().start()
    incident = world.enqueue(server, "escalate-1")
    sms.wait_arrival(timeout=FAST + 5)
    _stop(world, server, how, hung_past_grace=True)

    server.start()
    world.settle(until=lambda: world.delivered("bob", "sms", incident) >= 1, timeout=30)
    world.assert_one_incident_per_signal(1)
    world.assert_end_state(incident, paged=["alice", "bob"], not_paged=["carol", "erin"],
                           state="triggered")


# Acknowledgement -----------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_an_sms_ack_answered_then_stopped_pages_nobody_more(
    make_world: Callable[..., World], how: str,
) -> None:
    world = make_world(steps=QUICK)
    server = world.server().start()
    incident = world.enqueue(server, "ack-1")
    world.twilio.wait_for(lambda: world.delivered("alice", "sms", incident), timeout=5)
    answer = world.sms_reply(server, "alice", "1")
    assert f"Acknowledged INC-{incident}" in answer, answer
    acked_at = time.monotonic()
    _stop(world, server, how)

    server.start()
    # Past the moment step 2 (Bob) would have been paged: at once after the restart, if the
    # acknowledgement had been lost.
    world.settle(timeout=30, quiet=max(0.5, acked_at + FAST + 2 - time.monotonic()))
    world.assert_end_state(incident, paged=["alice"], not_paged=["bob", "carol"],
                           state="acknowledged")


# Resolve -------------------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_a_source_resolve_answered_then_stopped_pages_nobody_more(
    make_world: Callable[..., World], how: str,
) -> None:
    """The alert resolves at its source (auto_resolve); the channel's "resolved" message hangs
    at Slack (it took it; the answer is lost) and the server is stopped."""
    world = make_world(steps=QUICK)
    server = world.server().start()
    [incident] = world.alertmanager(server, "fp-resolve-1")
    world.twilio.wait_for(lambda: world.delivered("alice", "sms", incident), timeout=5)
    [(channel,)] = world.slack.wait_for(lambda: world.rows(
        "SELECT channel FROM incidents WHERE id = :i AND channel IS NOT NULL", i=incident))
    resolved_post = world.slack.inject(
        "chat.postMessage", hang=True, accepted=True, times=1,
        where=lambda p: p.get("channel") == channel and "resolved by" in str(p.get("text")))
    world.alertmanager(server, "fp-resolve-1", status="resolved")
    resolved_at = time.monotonic()
    resolved_post.wait_arrival()
    _stop(world, server, how, release=resolved_post)

    server.start()
    world.settle(timeout=40, quiet=max(0.5, resolved_at + FAST + 2 - time.monotonic()))
    world.assert_one_incident_per_signal(1)
    world.assert_end_state(incident, paged=["alice"], not_paged=["bob", "carol"],
                           state="resolved")
    said = [c for c in world.slack.calls_to("chat.postMessage", channel=channel)
            if "resolved by" in str(c.params.get("text"))]
    assert len(said) == 1, [c.params.get("text") for c in said]


# Slow and hung vendors, no restart -------------------------------------------------------------
@pytest.mark.parametrize("how", ["slow", "accept-then-time-out"])
def test_a_slow_twilio_does_not_get_the_sms_twice(
    make_world: Callable[..., World], sqlite_only: None, how: str,
) -> None:
    """Situation 3: every SMS to Alice takes ~12 s, past the client's 10 s timeout. Either
    Twilio takes it only at the end (11.5 s: the adapter looks for it 2 s after its timeout),
    or it takes it at once and its answer comes 12 s later. No restart: the real leases.
    Twilio is asked to send it once: one POST, not merely one message in the end."""
    world = make_world(lease=None)
    if how == "slow":
        slow = world.twilio.inject("sms", delay=11.5, equals=_to("alice"))
    else:
        slow = world.twilio.inject("sms", accept_then_sleep=12.0, equals=_to("alice"))
    server = world.server().start()
    incident = world.declare(server, "Twilio is slow")
    world.settle(until=lambda: world.delivered("alice", "sms", incident) >= 1, timeout=90)
    assert len(slow.arrivals) == 1, f"{len(slow.arrivals)} SMS requests for one page"
    world.assert_end_state(incident, paged=["alice"], not_paged=["bob"], state="triggered")
    [(status,)] = world.rows("SELECT status FROM pages WHERE incident_id = :i AND person = "
                             "'alice' AND channel = 'sms'", i=incident)
    assert status == "sent"


def test_one_incidents_hung_twilio_does_not_delay_another_incidents_pages(
    make_world: Callable[..., World], sqlite_only: None,
) -> None:
    """Situation 4: every Twilio call of incident A hangs. Incident B's first pages and its
    escalation to Bob go out on time all the same, before A's calls are let go."""
    world = make_world(steps=(f"{FAST}s", "10m", "10m"), lease=None)
    # A's pages name its title ("checkout is failing"), in the SMS body and the call's words.
    hang_a = world.twilio.inject("sms", hang=True,
                                 where=lambda f: "checkout" in f.get("Body", ""))
    hang_a_voice = world.twilio.inject("voice", hang=True,
                                       where=lambda f: "checkout" in f.get("Twiml", ""))
    server = world.server().start()
    a = world.enqueue(server, "hang-a", service="checkout")
    world.twilio.wait_for(lambda: hang_a.arrived.is_set() or hang_a_voice.arrived.is_set(),
                          timeout=5)
    declared = time.monotonic()
    b = world.enqueue(server, "hang-b", service="ledger")
    world.twilio.wait_for(lambda: world.delivered("alice", "sms", b), timeout=2)
    world.twilio.wait_for(lambda: world.delivered("bob", "sms", b), timeout=FAST + 2)
    bob_late = time.monotonic() - declared - FAST
    assert not hang_a.answered and not hang_a_voice.answered, "A's calls were let go early"
    hang_a.release()
    hang_a_voice.release()
    print(f"B's step 2 paged {bob_late:+.2f}s after its ack timeout, while A hung")
    world.settle(until=lambda: all(world.delivered("bob", ch, i) for ch in CHANNELS
                                   for i in (a, b)), timeout=40)
    for incident in (a, b):
        world.assert_end_state(incident, paged=["alice", "bob"], not_paged=["carol"],
                               state="triggered")


def test_a_slow_slack_does_not_delay_the_first_page(
    make_world: Callable[..., World], sqlite_only: None,
) -> None:
    """Situation 6: conversations.create takes 6 s; the first pages reach Twilio and Slack's
    DMs before it completes, within 2 s of the declaration."""
    world = make_world(lease=None)
    create = world.slack.inject("conversations.create", delay=SLOW_SLACK, times=1)
    server = world.server().start()
    started = time.monotonic()
    incident = world.declare(server, "Slack is slow")
    first_sms = world.twilio.wait_arrival("sms", To=PEOPLE["alice"][0])[0]
    first_dm = world.slack.wait_arrival("chat.postMessage", channel="DU0ALICE")[0]
    create_arrived = create.wait_arrival()
    world.settle(until=lambda: len(create.answered) == 1, timeout=20)
    assert first_sms.at - started < 2.0, f"the first SMS took {first_sms.at - started:.2f}s"
    assert first_dm.at - started < 2.0, f"the first DM took {first_dm.at - started:.2f}s"
    assert first_sms.at < create.answered[0] and first_dm.at < create.answered[0]
    assert create.answered[0] - create_arrived.at >= SLOW_SLACK - 0.1  # it was slow indeed
    world.assert_end_state(incident, paged=["alice"], not_paged=["bob"], state="triggered")


# Replicas ------------------------------------------------------------------------------------
def test_two_replicas_page_each_person_once_even_when_one_is_killed(
    make_world: Callable[..., World], postgres_only: None,
) -> None:
    """Two `firebell serve` processes on one PostgreSQL database, declarations sent to both,
    an escalation running on both schedulers. The replica holding an SMS that Twilio took (its
    answer lost) is killed; the other settles it when its lease ends."""
    world = make_world(steps=QUICK)
    replicas = [world.server().start(), world.server().start()]
    hang = world.twilio.inject("sms", hang=True, accepted=True, equals=_to("alice"), times=1)
    incidents = [world.declare(replicas[i % 2], f"Replicated {i}") for i in range(3)]
    callback = str(hang.wait_arrival().params.get("StatusCallback"))
    [hung_incident] = [i for i in incidents if f"incident={i}" in callback]
    # The other first pages went out beside it.
    world.slack.wait_for(lambda: all(
        world.delivered("alice", ch, i) for ch in CHANNELS for i in incidents
        if (ch, i) != ("sms", hung_incident)), timeout=10)
    owner = world.holder_of("alice", "sms", hung_incident)
    holder = next(r for r in replicas if f":{r.pid}:" in owner)
    holder.kill()
    holder.start()
    world.settle(until=lambda: all(world.delivered("carol", ch, i) for ch in CHANNELS
                                   for i in incidents), timeout=60, quiet=1.0)
    world.assert_one_incident_per_signal(3)
    for incident in incidents:
        world.assert_end_state(incident, paged=["alice", "bob", "carol"], not_paged=["erin"],
                               state="triggered")
