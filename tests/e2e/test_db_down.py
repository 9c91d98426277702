"""The database locked, read-only or gone, seen from the outside: Twilio's signed SMS replies and
key presses still get TwiML the person hears (never a 500, never after Twilio's 15 s), and
/healthz says what is wrong within 2 s. Then the database comes back and everything works again.

Through the real HTTP server, on SQLite and (with FIREBELL_TEST_PG_URL) PostgreSQL.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import sqlite3
import subprocess
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from xml.etree import ElementTree

import httpx
import pytest
from sqlalchemy import create_engine, text

from app import Firebell, Settings, build
from bot.server import build_http_app
from storage.db import upgrade, writable
from tests.support.databases import postgres_url
from tests.support.slack_helpers import ThreadedServer, free_port
from tests.support.twilio_fake import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    FROM_NUMBER,
    FakeTwilio,
    twilio_signature,
)
from workflows.clock import FakeClock
from workflows.incident.declare import DeclareRequest, declare
from workflows.model import State

ALICE = "+15550100001"
TWILIO_GIVES_UP = 15.0  # seconds Twilio waits for a webhook's answer
NOT_RECORDED = "may not have been recorded"

CATALOG = textwrap.dedent("""\
    timezone: UTC
    people:
      - {id: alice, name: Alice Doe, phone: "+15550100001", slack: U0ALICE}
      - {id: bob, name: Bob Brandt, phone: "+15550100002", slack: U0BOB}
    teams:
      - {id: payments, name: Payments, slack_channel: C0PAYMENTS, escalation_policy: payments}
    services:
      - {id: checkout, name: Checkout API, team: payments, match: {service: checkout}}
    schedules:
      - id: primary
        team: payments
        rotation: {every: 1d, handoff: "09:00", start: "2026-01-05", members: [alice]}
    escalation_policies:
      - id: payments
        steps:
          - {notify: ["schedule:primary"], ack_timeout: 5m}
          - {notify: ["person:bob"], ack_timeout: 5m}
    priorities:
      matrix:
        critical: {high: P1, low: P2}
        major: {high: P2, low: P3}
        minor: {high: P3, low: P4}
      response:
        P1: {page: true, ack_within: 5m, channels: [voice, sms], update_every: 15m, monitor_for: 1h}
        P2: {page: true, ack_within: 15m, channels: [sms], update_every: 20m, monitor_for: 30m}
        P3: {page: false, ack_within: 8h business, channels: [chat]}
        P4: {page: false, ack_within: 5d business, channels: [ticket]}
""")


class World:
    """Firebell with Twilio on and its scheduler running, served over HTTP at its PUBLIC_URL."""

    def __init__(self, tmp_path: Path, database_url: str, twilio: FakeTwilio) -> None:
        catalog = tmp_path / "catalog.yaml"
        catalog.write_text(CATALOG)
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            firebell_config=str(catalog), database_url=database_url,
            twilio_account_sid=ACCOUNT_SID, twilio_auth_token=AUTH_TOKEN,
            twilio_from_number=FROM_NUMBER, twilio_api_url=twilio.api_url, public_url=self.url,
        )
        self.firebell: Firebell = build(settings, clock=FakeClock(datetime.now(UTC)))
        self.firebell.timers.start()
        self.server = ThreadedServer(build_http_app(self.firebell), port=port).start()

    def close(self) -> None:
        self.server.stop()
        self.firebell.timers.shutdown()
        self.firebell.store.dispose()

    def declare(self) -> int:
        incident = declare(self.firebell.ctx, DeclareRequest(
            title="Checkout is down", service="checkout", severity="critical", urgency="high"))
        assert incident.id is not None
        return incident.id

    def state(self, incident_id: int) -> State:
        with self.firebell.store.transaction() as tx:
            return tx.get_incident(incident_id).state

    def post(self, path: str, params: dict[str, str]) -> httpx.Response:
        """A request signed the way Twilio signs it, given up on when Twilio gives up."""
        url = self.url + path
        return httpx.post(url, data=params, timeout=TWILIO_GIVES_UP,
                          headers={"X-Twilio-Signature": twilio_signature(url, params)})

    def sms(self, body: str) -> tuple[str, float]:
        """The text of the TwiML <Message> answering an SMS from Alice, and how long it took."""
        started = time.monotonic()
        answer = self.post("/twilio/sms", {"From": ALICE, "To": FROM_NUMBER, "Body": body})
        elapsed = time.monotonic() - started
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("application/xml")
        message = ElementTree.fromstring(answer.text).find("Message")
        assert message is not None, answer.text
        return message.text or "", elapsed

    def press(self, incident_id: int, digits: str) -> tuple[ElementTree.Element, float]:
        """The TwiML answering Alice pressing `digits` in a page call, and how long it took."""
        started = time.monotonic()
        answer = self.post(f"/twilio/voice?incident={incident_id}&person=alice",
                           {"CallSid": "CA" + "0" * 32, "Digits": digits, "From": FROM_NUMBER})
        elapsed = time.monotonic() - started
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("application/xml")
        return ElementTree.fromstring(answer.text), elapsed

    def health(self) -> tuple[int, dict[str, str], float]:
        started = time.monotonic()
        answer = httpx.get(f"{self.url}/healthz", timeout=10)
        return answer.status_code, answer.json(), time.monotonic() - started


def _said(twiml: ElementTree.Element) -> str:
    return " ".join(say.text or "" for say in twiml.iter("Say"))


def _eventually(check: Callable[[], bool], *, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio() as fake:
        yield fake


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Path:
    """A migrated SQLite database in a directory of its own (so that it can go missing)."""
    path = tmp_path / "data" / "firebell.db"
    path.parent.mkdir()
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def sqlite_world(tmp_path: Path, sqlite_file: Path, twilio: FakeTwilio) -> Iterator[World]:
    world = World(tmp_path, f"sqlite:///{sqlite_file}", twilio)
    yield world
    world.close()


def _logged(caplog: pytest.LogCaptureFixture, level: int, words: str) -> bool:
    return any(r.levelno == level and words in r.getMessage() for r in caplog.records)


def test_a_locked_sqlite_database_still_answers_twilio_and_fails_health(
    sqlite_world: World, sqlite_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.twilio")
    world = sqlite_world
    incident_id = world.declare()
    assert world.health()[:2] == (200, {"status": "ok", "database": "ok", "scheduler": "running"})

    holder = sqlite3.connect(sqlite_file, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another writer that does not let go
    try:
        status, body, elapsed = world.health()
        assert (status, body) == (503, {"status": "unavailable", "database": "locked",
                                        "scheduler": "running"})
        assert elapsed < 5  # not the 30 s busy timeout

        with ThreadPoolExecutor(2) as pool:  # an SMS reply and a key press at the same time
            sms = pool.submit(world.sms, "1")
            key = pool.submit(world.press, incident_id, "1")
            (text, sms_took), (twiml, key_took) = sms.result(), key.result()
        assert NOT_RECORDED in text and "Reply 1 again" in text
        assert NOT_RECORDED in _said(twiml)
        gather = twiml.find("Gather")  # pressing 1 again is offered
        assert gather is not None and gather.get("numDigits") == "1"
        assert (gather.get("action") or "").endswith(f"/twilio/voice?incident={incident_id}"
                                                     "&person=alice")
        assert sms_took < TWILIO_GIVES_UP and key_took < TWILIO_GIVES_UP
        assert _logged(caplog, logging.ERROR, f"SMS acknowledgement from {ALICE}: no answer")
    finally:
        holder.execute("ROLLBACK")
        holder.close()

    # The acknowledgements still waiting for the lock go through once it is gone: the person was
    # told "may not", not "not".
    assert _eventually(lambda: world.state(incident_id) == State.ACKNOWLEDGED)
    assert _eventually(lambda: _logged(caplog, logging.WARNING, "finished after Twilio had been"))
    assert world.health()[:2] == (200, {"status": "ok", "database": "ok", "scheduler": "running"})
    again, _ = world.sms("1")
    assert again.startswith("Not acknowledged") or again.startswith("Acknowledged")
    second = world.declare()
    text, _ = world.sms("1")
    assert text.startswith("Acknowledged INC-2"), text
    assert world.state(second) == State.ACKNOWLEDGED


@contextmanager
def _read_only(database: Path, *, reopen: Callable[[], None]) -> Iterator[None]:
    """Make a SQLite database refuse writes, for root too: chattr +i (root ignores permission
    bits) on the file and its write-ahead log, which stops connections already open as well. Not
    on the -shm file: that is shared memory SQLite maps, and an immutable one kills the process
    with SIGBUS. Without chattr, as another user, permission bits do it for connections opened
    after (`reopen`); as root without chattr, the test cannot run.

    With permission bits, SQLite gives a -wal or -shm it creates meanwhile the database's mode,
    and a connection opened read-only stays so: afterwards every file's mode is put back and the
    connections are opened again, as an operator would (chmod, restart)."""
    wal, shm = Path(f"{database}-wal"), Path(f"{database}-shm")
    immutable = [str(path) for path in (database, wal) if path.exists()]
    attempt = subprocess.run(["chattr", "+i", *immutable], capture_output=True, text=True) \
        if shutil.which("chattr") else None
    if attempt is not None and attempt.returncode == 0:
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", *immutable], check=True)
        return
    if os.geteuid() == 0:
        reason = attempt.stderr.strip() if attempt else "no chattr"
        pytest.skip(f"cannot make a file read-only for root here: {reason}")
    reopen()
    mode = database.stat().st_mode
    for path in (database, wal, shm):
        if path.exists():
            path.chmod(0o444)
    try:
        yield
    finally:
        for path in (database, wal, shm):
            if path.exists():
                path.chmod(mode)
        reopen()


def test_a_read_only_sqlite_database_still_answers_twilio_and_fails_health(
    sqlite_world: World, sqlite_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    world = sqlite_world
    incident_id = world.declare()
    with _read_only(sqlite_file, reopen=world.firebell.store.engine.dispose):
        status, body, elapsed = world.health()
        assert (status, body["status"], body["database"]) == (503, "unavailable", "read-only")
        assert elapsed < 5

        text, took = world.sms("1")
        assert NOT_RECORDED in text and took < TWILIO_GIVES_UP
        twiml, took = world.press(incident_id, "1")
        assert NOT_RECORDED in _said(twiml) and took < TWILIO_GIVES_UP
        failures = [r for r in caplog.records if "was not recorded: the database failed"
                    in r.getMessage()]
        assert len(failures) == 2 and all(r.exc_info for r in failures)  # with the traceback

    assert world.state(incident_id) == State.TRIGGERED  # indeed not recorded
    assert world.health()[:2] == (200, {"status": "ok", "database": "ok", "scheduler": "running"})
    text, _ = world.sms("1")
    assert text.startswith("Acknowledged INC-1"), text
    assert world.state(incident_id) == State.ACKNOWLEDGED


def test_a_sqlite_database_gone_missing_is_unreachable_not_recreated(
    sqlite_world: World, sqlite_file: Path
) -> None:
    world = sqlite_world
    incident_id = world.declare()
    moved = sqlite_file.parent.with_name("moved")
    sqlite_file.parent.rename(moved)
    world.firebell.store.engine.dispose()  # as after a restart: no connection to the old file
    try:
        status, body, _ = world.health()
        assert status == 503
        assert body["database"] == "unreachable: unable to open database file"
        text, _ = world.sms("1")
        assert NOT_RECORDED in text
        assert not sqlite_file.parent.exists()  # the probe did not make an empty database
    finally:
        moved.rename(sqlite_file.parent)
        world.firebell.store.engine.dispose()
    assert world.health()[0] == 200
    assert world.sms("1")[0].startswith("Acknowledged INC-1")
    assert world.state(incident_id) == State.ACKNOWLEDGED


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_read_only_postgresql_still_answers_twilio_and_fails_health(
    tmp_path: Path, database_url: str, twilio: FakeTwilio
) -> None:
    world = World(tmp_path, database_url, twilio)
    admin = create_engine(postgres_url() or "", isolation_level="AUTOCOMMIT")
    name = database_url.rsplit("/", 1)[1]

    def read_only(on: bool) -> None:
        setting = "SET default_transaction_read_only = on" if on else \
            "RESET default_transaction_read_only"
        with admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{name}" {setting}'))
        # As in a failover, connections start over: the setting applies to new sessions.
        world.firebell.store.engine.dispose()

    try:
        incident_id = world.declare()
        read_only(True)
        status, body, elapsed = world.health()
        assert (status, body["database"]) == (503, "read-only") and elapsed < 5
        text_, took = world.sms("1")
        assert NOT_RECORDED in text_ and took < TWILIO_GIVES_UP
        twiml, took = world.press(incident_id, "1")
        assert NOT_RECORDED in _said(twiml) and took < TWILIO_GIVES_UP
        assert world.state(incident_id) == State.TRIGGERED

        read_only(False)
        assert world.health()[:2] == (200, {"status": "ok", "database": "ok",
                                            "scheduler": "running"})
        twiml, _ = world.press(incident_id, "1")
        assert "Acknowledged incident" in _said(twiml)
        assert world.state(incident_id) == State.ACKNOWLEDGED
    finally:
        read_only(False)
        world.close()
        admin.dispose()


def test_health_answers_within_2_s_when_the_probe_hangs(
    sqlite_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()

    def hangs(engine: object, *, timeout: float) -> str | None:
        release.wait(30)  # a database on the far side of a dropped connection
        return None

    monkeypatch.setattr("bot.server.writable", hangs)
    try:
        status, body, elapsed = sqlite_world.health()
    finally:
        release.set()
    assert (status, body["database"]) == (503, "no answer within 2 s")
    assert elapsed < 5


def test_the_probe_gives_up_on_a_postgresql_that_never_answers() -> None:
    """A server that takes the connection and says nothing (a dropped route, a hung host)."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        started = time.monotonic()
        reason = writable(create_engine(f"postgresql+psycopg://u:p@127.0.0.1:{port}/firebell"))
        assert reason is not None and reason.startswith("unreachable:")
        assert time.monotonic() - started < 5
