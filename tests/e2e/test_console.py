"""`firebell console`: a script of chat commands piped in, the chat and pages read back out."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app import Settings, build_console_context
from bot.console.chat import ConsoleChat, ConsolePager
from bot.console.repl import run_console
from storage.store import SqlStore
from tests.support.cli import run_firebell
from tests.support.paths import DEMO_CATALOG
from workflows.catalog.load import load_catalog, parse_catalog
from workflows.clock import FakeClock
from workflows.model import Incident, Page
from workflows.ports import Button, ExternalServiceError, Message


def _console(tmp_path: Path, *lines: str, database: str | None = None, **settings: str) -> str:
    """The console on `lines`; `database=""` gives it none (its own default is used)."""
    out = io.StringIO()
    status = run_console(
        settings=Settings(
            firebell_config=str(tmp_path / "absent.yaml"),  # falls back to the demo catalog
            _env_file=None,  # type: ignore[call-arg]
            **settings,
        ),
        build=build_console_context,
        default_catalog=DEMO_CATALOG,
        database=f"sqlite:///{tmp_path / 'console.db'}" if database is None else database,
        stdin=io.StringIO("\n".join(lines) + "\n"),
        stdout=out,
    )
    assert status == 0
    return out.getvalue()


def _after(text: str, marker: str) -> str:
    assert marker in text, f"{marker!r} not in output"
    return text[text.index(marker) :]


def test_a_whole_incident_typed_into_the_console(tmp_path: Path) -> None:
    text = _console(
        tmp_path,
        "/incident declare service=checkout severity=critical urgency=high Checkout down",
        "/wait 31s",
        "/as bob",
        "/incident ack 1",
        "/incident status identified cause found",
        "/incident role commander @nobody",
        "rolling back the PSP timeout change",
        "/incident resolve 1",
        "/quit",
    )
    declared = _after(text, "you (alice)> /incident declare")
    assert "firebell (to alice): Declared INC-1 (P1) in #inc-" in declared
    assert (
        "📟 SMS to Alice Doe (+15550100001): You are paged for INC-1 (P1): Checkout down"
        in declared
    )
    assert "[Acknowledge: /incident ack 1]" in declared

    waited = _after(declared, "you (alice)> /wait 31s")
    assert "📟 SMS to Bob Brandt (+15550100002)" in waited
    assert "escalating to step 2: paging Bob Brandt" in waited
    assert "SMS to Bob" not in declared.split("/wait 31s")[0]  # not before the timeout

    acked = _after(waited, "you (bob)> /incident ack 1")
    assert "✅ Bob Brandt acknowledged INC-1" in acked
    assert "firebell (to bob): You acknowledged INC-1." in acked

    status = _after(acked, "you (bob)> /incident status identified cause found")
    assert "Stage: *Identified* · Priority P1 · by Bob Brandt" in status

    error = _after(status, "you (bob)> /incident role commander @nobody")
    assert "⚠ unknown person '@nobody' (known: alice, bob, erin)" in error

    resolved = _after(error, "you (bob)> /incident resolve 1")
    assert "🟢 INC-1 resolved by Bob Brandt" in resolved
    assert "firebell (to bob): INC-1 resolved." in resolved
    assert text.rstrip().endswith("bye")

    store = SqlStore(f"sqlite:///{tmp_path / 'console.db'}")
    try:
        with store.transaction() as tx:
            events = tx.events(1)
    finally:
        store.dispose()
    kinds = [event.kind for event in events]
    assert kinds.index("escalated") < kinds.index("acknowledged") < kinds.index("resolved")
    message = next(event for event in events if event.kind == "message")
    assert (message.actor, message.text) == ("bob", "rolling back the PSP timeout change")


def test_wait_stops_at_every_deadline_on_the_way(tmp_path: Path) -> None:
    text = _console(
        tmp_path,
        "/incident declare service=checkout severity=critical urgency=high Checkout down",
        "/wait 2m",
    )
    waited = _after(text, "/wait 2m")
    # 30s: Bob, 60s: Erin, 90s: the policy has no more steps — each at its own time.
    assert waited.index("SMS to Bob Brandt") < waited.index("SMS to Erin Engel")
    assert "has no more steps" in waited
    assert "No status update on INC-1" in waited


def test_mistakes_are_explained_and_the_session_goes_on(tmp_path: Path) -> None:
    text = _console(
        tmp_path,
        "/as mallory",
        "/incident declare service=checkout Checkout down",
        "/incident frobnicate",
        "/incident ack 7",
        "/wait soon",
        "/dance",
        "hello?",
        "/oncall payments",
    )
    assert "⚠ unknown person 'mallory'" in text
    assert "⚠ declare needs severity=..., urgency=..." in text
    assert "⚠ unknown command '/incident frobnicate'" in text
    assert "⚠ " in _after(text, "/incident ack 7").splitlines()[1]
    assert "⚠ not a duration: 'soon'" in text
    assert "⚠ unknown command /dance" in text
    assert "⚠ you are in no channel" in text
    assert "*payments-primary* (payments): alice" in text
    assert "you (alice)> " in _after(text, "/oncall payments")  # still alice, session went on
    assert text.rstrip().endswith("bye")  # end of input ends the session


def test_console_chat_prints_posts_with_buttons_and_the_time() -> None:
    catalog = load_catalog(DEMO_CATALOG)
    clock = FakeClock(datetime(2026, 11, 24, 8, 30, tzinfo=UTC))
    out = io.StringIO()
    chat = ConsoleChat(clock, stream=out, catalog=catalog)
    first = chat.create_channel(name="inc-20261124-1-checkout-down", private=False)
    second = chat.create_channel(name="inc-20261124-1-checkout-down", private=True)
    chat.invite(channel=first, people=["alice", "bob"])
    chat.invite(channel=first, people=["alice"])  # already there: nothing printed
    chat.post(
        channel=first,
        message=Message(
            ":white_check_mark: Line one\nline two",
            buttons=(Button("ack", "Acknowledge", "1", "primary"),),
            links=(("Runbook", "https://runbooks.example/checkout"),),
        ),
    )
    chat.send_direct(person="erin", message=Message("hello"))
    assert (first, second) == ("#inc-20261124-1-checkout-down", "#inc-20261124-1-checkout-down-2")
    assert out.getvalue().splitlines() == [
        "[09:30:00] ── channel #inc-20261124-1-checkout-down created ──",
        "[09:30:00] ── private channel #inc-20261124-1-checkout-down-2 created ──",
        "[09:30:00] #inc-20261124-1-checkout-down  → Alice Doe, Bob Brandt joined",
        "[09:30:00] #inc-20261124-1-checkout-down  firebell: ✅ Line one",
        "           line two",
        "           Runbook: https://runbooks.example/checkout",
        "           [Acknowledge: /incident ack 1]",
        "[09:30:00] 💬 DM to Erin Engel: hello",
    ]


def test_console_pager_prints_sms_calls_and_chat_and_needs_a_phone() -> None:
    catalog = load_catalog(DEMO_CATALOG)
    clock = FakeClock(datetime(2026, 11, 24, 8, 30, tzinfo=UTC))
    out = io.StringIO()
    pager = ConsolePager(clock, stream=out, catalog=catalog)
    incident = Incident(
        title="Checkout down",
        service="checkout",
        team="payments",
        severity="critical",
        urgency="high",
        environment="production",
        priority="P1",
        declared_at=clock.now(),
        id=1,
    )
    message = Message("You are paged for INC-1", buttons=(Button("ack", "Acknowledge", "1"),))
    for channel in ("sms", "voice", "chat"):
        pager.send_page(
            page=Page(1, "bob", channel, clock.now()), incident=incident, message=message
        )
    assert out.getvalue().splitlines() == [
        "[09:30:00] 📟 SMS to Bob Brandt (+15550100002): You are paged for INC-1 Reply ACK 1.",
        "[09:30:00] 📞 call to Bob Brandt (+15550100002): “You are paged for INC-1 Press 1 to acknowledge.”",
        "[09:30:00] 💬 DM to Bob Brandt: You are paged for INC-1",
        "           [Acknowledge: /incident ack 1]",
    ]
    assert [channel for _, channel, _ in pager.sent] == ["sms", "voice", "chat"]
    no_phone = parse_catalog(DEMO_CATALOG.read_text().replace('phone: "+15550100005",', ""))
    pager.attach(no_phone)
    with pytest.raises(ExternalServiceError, match="Erin Engel has no phone number"):
        pager.send_page(
            page=Page(1, "erin", "sms", clock.now()), incident=incident, message=message
        )


@pytest.mark.slow
def test_firebell_console_reads_piped_stdin(tmp_path: Path) -> None:
    environment = {
        "FIREBELL_CONSOLE_DATABASE": str(tmp_path / "console.db"),
        "FIREBELL_CONFIG": str(tmp_path / "absent.yaml"),
    }
    script = "/oncall checkout\n/incident list\n/quit\n"
    result = run_firebell("console", cwd=tmp_path, env=environment, stdin=script)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "*payments-primary* (payments): alice" in result.stdout
    assert "No open incidents." in result.stdout


def test_the_console_has_every_store_schedules_and_intake_included(tmp_path: Path) -> None:
    """One bootstrap builds every port for every entry point: the console's `/oncall history`,
    `/oncall cover` and `/incident unrouted` work as they do in `serve`."""
    text = _console(
        tmp_path,
        "/oncall history payments-primary",
        "/oncall cover payments-primary 2h",
        "/incident unrouted",
        "/quit",
    )
    for command in ("/oncall history", "/oncall cover", "/incident unrouted"):
        answer = _after(text, f"> {command}").split("\n", 2)[1]
        assert "not set up" not in answer and "no schedule store" not in answer, answer
        assert "error" not in answer.lower(), answer
    assert "(offer " in _after(text, "> /oncall cover")


def _incident_titles(path: Path) -> list[str]:
    store = SqlStore(f"sqlite:///{path}")
    try:
        with store.transaction() as tx:
            return [i.title for i in tx.list_incidents(open_only=False, limit=100)]
    finally:
        store.dispose()


PRACTICE = "/incident declare service=checkout severity=critical urgency=high Practice run"


def test_the_console_never_uses_serves_database_unless_given_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A practice P1 in the console must not be escalated and paged by `serve` started later in
    the same directory: by default the console has a file of its own, and its banner says so."""
    monkeypatch.chdir(tmp_path)
    serve_db = tmp_path / "firebell.db"
    text = _console(tmp_path, PRACTICE, "/quit", database="",
                    database_url=f"sqlite:///{serve_db}")
    assert not serve_db.exists()
    own = tmp_path / "firebell-console.db"
    assert _incident_titles(own) == ["Practice run"]
    assert f"Database sqlite:///{own}\n" in text.splitlines(keepends=True)[1]
    assert "⚠" not in text.splitlines()[1]

    # FIREBELL_CONSOLE_DATABASE (here a URL) chooses it when no --database is given.
    chosen = tmp_path / "chosen.db"
    _console(tmp_path, PRACTICE, database="", database_url=f"sqlite:///{serve_db}",
             firebell_console_database=f"sqlite:///{chosen}")
    assert _incident_titles(chosen) == ["Practice run"] and not serve_db.exists()

    # Given serve's database explicitly, the console uses it and says what that means.
    text = _console(tmp_path, "/quit", database=str(serve_db),
                    database_url=f"sqlite:///{serve_db}")
    banner = text.splitlines()[1]
    assert banner.startswith(f"Database sqlite:///{serve_db} — ⚠ the database `firebell serve`")


def test_the_console_banner_hides_a_database_password() -> None:
    from bot.console.sandbox import describe_database

    url = "postgresql+psycopg://firebell:s3cret@db.example:5432/firebell"
    shown = describe_database(url, serve_url="postgresql://other:pw@db.example/firebell")
    assert "s3cret" not in shown and "db.example:5432/firebell" in shown
    assert "⚠" in shown  # the same server and database as serve's, whatever the driver or user
    assert "⚠" not in describe_database(url, serve_url="sqlite:///firebell.db")


@pytest.mark.slow
def test_firebell_console_ignores_database_url(tmp_path: Path) -> None:
    serve_db = tmp_path / "serve.db"
    environment = {
        "DATABASE_URL": f"sqlite:///{serve_db}",
        "FIREBELL_CONFIG": str(tmp_path / "absent.yaml"),
    }
    result = run_firebell("console", cwd=tmp_path, env=environment, stdin=PRACTICE + "\n/quit\n")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert not serve_db.exists()
    assert _incident_titles(tmp_path / "firebell-console.db") == ["Practice run"]
    assert f"Database sqlite:///{tmp_path / 'firebell-console.db'}" in result.stdout

    given = tmp_path / "given.db"
    result = run_firebell("console", "--database", str(given), cwd=tmp_path, env=environment,
                          stdin=PRACTICE + "\n/quit\n")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert _incident_titles(given) == ["Practice run"] and not serve_db.exists()
