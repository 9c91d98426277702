"""`firebell demo`: a scripted incident played offline at accelerated time, on the real workflows.

An alert on checkout opens a P1, the primary is paged and does not answer, the escalation pages
the secondary, who acknowledges and takes command; status updates, a reminder when one is
overdue, mitigation, resolution and the recovery watch follow; then the timeline is printed and
a postmortem draft written. The clock is a `FakeClock` stepped one second at a time, with
`run_due` after each step, exactly as the scheduler would wake the process in production.
"""

from __future__ import annotations

import logging
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

from bot.commands import Commands, Invocation
from bot.console.chat import ConsoleChat, ConsolePager, ConsoleWriter
from bot.console.repl import known_channels
from bot.console.sandbox import ContextBuilder, describe_database, sandbox_database_url
from workflows.clock import FakeClock, ManualTimers
from workflows.context import Context
from workflows.deadlines import run_due
from workflows.durations import format_duration
from workflows.incident import queries
from workflows.incident.capture import record_chat_message
from workflows.incident.declare import DeclareRequest, declare
from workflows.model import Incident, State, TimelineEvent
from workflows.ports import ChatMessage, PagerPort
from workflows.render import render

START = datetime(2026, 11, 24, 8, 30, tzinfo=UTC)  # a Tuesday, 09:30 in Berlin
STEP = timedelta(seconds=1)
LIMIT = timedelta(minutes=15)  # the story takes about five simulated minutes


@dataclass(frozen=True)
class Beat:
    """One moment of the script: `at` seconds after the alert, do `act`."""

    at: int
    act: Callable[[_Demo], None]


def heading(title: str) -> Callable[[_Demo], None]:
    return lambda demo: demo.heading(title)


def narrate(text: str) -> Callable[[_Demo], None]:
    return lambda demo: demo.out.line(f"  ({text})")


def types(person: str, command: str) -> Callable[[_Demo], None]:
    return lambda demo: demo.type(person, command)


def says(person: str, text: str) -> Callable[[_Demo], None]:
    return lambda demo: demo.say(person, text)


def alert(demo: _Demo) -> None:
    demo.out.line(
        "🔔 Alertmanager → firebell: CheckoutHighErrorRate firing "
        "{service=checkout, severity=critical, urgency=high} — 5xx ratio 23% for 2m"
    )
    demo.incident = declare(
        demo.ctx,
        DeclareRequest(
            title="Checkout down",
            service="checkout",
            severity="critical",
            urgency="high",
            description="Alertmanager: CheckoutHighErrorRate, 5xx ratio 23% on checkout for 2m.",
            reporter="alertmanager",
        ),
    )


SCRIPT = (
    Beat(0, heading("1. An alert arrives: P1 incident, the primary on call is paged")),
    Beat(0, alert),
    Beat(5, narrate("Alice's phone is on silent. Nobody acknowledges …")),
    Beat(30, heading("2. No acknowledgement within 30s: escalation to the secondary")),
    Beat(40, heading("3. Bob acknowledges and takes command")),
    Beat(40, types("bob", "/incident ack {id}")),
    Beat(45, types("bob", "/incident role commander @bob")),
    Beat(50, heading("4. Status updates")),
    Beat(
        50,
        types("bob", "/incident status investigating 5xx at 23% on checkout; PSP latency is up."),
    ),
    Beat(70, says("alice", "Sorry, my phone was on silent. Joining now, I can check the deploys.")),
    Beat(75, types("bob", "/incident role scribe @alice")),
    Beat(90, narrate("Everyone is heads-down; nobody posts an update …")),
    Beat(110, heading("5. An update is overdue: Firebell reminds the commander")),
    Beat(
        120,
        types(
            "bob",
            "/incident status identified PSP timeout config changed at 09:25; rolling it back.",
        ),
    ),
    Beat(150, heading("6. Mitigated")),
    Beat(150, types("bob", "/incident mitigate")),
    Beat(
        160, types("bob", "/incident status monitoring Rollback done; 5xx back to 0.1%. Watching.")
    ),
    Beat(200, heading("7. Resolved: the recovery watch runs (2m)")),
    Beat(200, types("bob", "/incident resolve")),
    Beat(320, heading("8. The recovery watch ran out: the incident closes")),
)


class _Demo:
    def __init__(self, ctx: Context, clock: FakeClock, out: ConsoleWriter) -> None:
        self.ctx, self.clock, self.out = ctx, clock, out
        self.commands = Commands(ctx, forms=False)
        self.incident: Incident | None = None

    @property
    def incident_id(self) -> int:
        assert self.incident is not None and self.incident.id is not None, "no incident yet"
        return self.incident.id

    def heading(self, title: str) -> None:
        self.out.stream.write(f"\n━━━ {title} ━━━\n")

    def type(self, person: str, command: str) -> None:
        text = command.format(id=self.incident_id)
        self.out.line(f"{self.ctx.display(person)} › {text}")
        word, _, rest = text.partition(" ")
        reply = self.commands.handle(
            Invocation(
                command=word.removeprefix("/"),
                text=rest,
                user=person,
                channel=self.channel,
            )
        )
        self.out.line(f"firebell (to {person}): {reply.text}")

    def say(self, person: str, text: str) -> None:
        self.out.line(f"{self.channel}  {person}: {text}")
        record_chat_message(self.ctx, channel=self.channel, message=ChatMessage(
            message_id=f"demo-{uuid.uuid4().hex}", author=person, text=text, at=self.ctx.now()))

    @property
    def channel(self) -> str:
        with self.ctx.store.transaction() as tx:
            channel = tx.get_incident(self.incident_id).channel
        assert channel is not None, "a P1 has a channel"
        return channel

    def state(self) -> State | None:
        if self.incident is None:
            return None
        with self.ctx.store.transaction() as tx:
            return tx.get_incident(self.incident_id).state


def run_demo(
    *, catalog_path: Path | str, speed: float, database: str | None, build: ContextBuilder,
    stdout: TextIO | None = None, serve_database: str | None = None,
) -> int:
    """Play the scripted incident; 0 when it ran to a closed incident and a postmortem draft.

    The demo is a sandbox: its database is `database` (a URL or a SQLite file) when given, else
    a temporary file deleted afterwards — never `serve_database` (DATABASE_URL) unless given it.
    """
    logging.getLogger("alembic").setLevel(logging.WARNING)  # migration chatter hides the story
    with tempfile.TemporaryDirectory(prefix="firebell-demo-") as scratch:
        url = sandbox_database_url(database or str(Path(scratch) / "demo.db"))
        return _play(catalog_path=catalog_path, speed=speed, url=url, stdout=stdout,
                     serve_database=serve_database, temporary=database is None, build=build)


def _play(
    *, catalog_path: Path | str, speed: float, url: str, stdout: TextIO | None,
    serve_database: str | None, temporary: bool, build: ContextBuilder,
) -> int:
    writing = stdout or sys.stdout
    clock = FakeClock(START)
    chat = ConsoleChat(clock, stream=writing)
    pager = ConsolePager(clock, stream=writing)
    pagers: dict[str, PagerPort] = {"chat": pager, "sms": pager, "voice": pager}
    ctx = build(
        catalog_path=catalog_path,
        database_url=url,
        clock=clock,
        timers=ManualTimers(),
        chat=chat,
        pagers=pagers,
    )
    chat.attach(ctx.catalog)
    chat.reserve(known_channels(ctx))  # a reused database keeps its incidents' channel names
    pager.attach(ctx.catalog)
    out = ConsoleWriter(clock, stream=writing, zone=ctx.catalog.timezone)
    writing.write(
        f"Firebell demo — a scripted P1 at {speed:g}x speed"
        f"{' (no waiting)' if speed <= 0 else ''}. Catalog {catalog_path}.\n"
        f"Database {describe_database(url, serve_url=serve_database)}"
        f"{' (temporary, deleted afterwards)' if temporary else ''}\n"
        "Chat and pages are printed here; nothing leaves this machine.\n"
    )
    demo = _Demo(ctx, clock, out)
    closed = False
    try:
        _run_script(demo, speed=speed)
        closed = demo.state() == State.CLOSED
        if demo.incident is not None:
            _finish(demo)
    finally:
        dispose = getattr(ctx.store, "dispose", None)
        if callable(dispose):
            dispose()
    if not closed:
        writing.write("⚠ the demo ended without a closed incident\n")
        return 1
    return 0


def _run_script(demo: _Demo, *, speed: float) -> None:
    beats = sorted(SCRIPT, key=lambda beat: beat.at)
    elapsed = timedelta(0)
    started = time.monotonic()
    while elapsed <= LIMIT:
        second = int(elapsed.total_seconds())
        while beats and beats[0].at <= second:
            beats.pop(0).act(demo)
        run_due(demo.ctx)
        if not beats and demo.state() == State.CLOSED:
            return
        demo.clock.advance(STEP)
        elapsed += STEP
        if speed > 0:
            # Sleep to where real time should be, so the work of each step does not add up.
            time.sleep(max(0.0, started + elapsed.total_seconds() / speed - time.monotonic()))


def _finish(demo: _Demo) -> None:
    incident, events = queries.timeline(demo.ctx, incident_id=demo.incident_id)
    zone = demo.ctx.catalog.timezone
    demo.heading("Timeline")
    demo.out.stream.write(render("timeline", incident=incident, events=events, zone=zone) + "\n")
    demo.heading("Postmortem draft")
    metrics = _metrics(incident, events)
    path = Path.cwd() / f"postmortem-{incident.ref}.md"
    path.write_text(_postmortem(demo.ctx, incident, events, metrics) + "\n", encoding="utf-8")
    demo.out.stream.write(
        f"TTA {metrics['tta']} · TTM {metrics['ttm']} · TTR {metrics['ttr']} · "
        f"{metrics['pages']} pages, {metrics['escalations']} escalation(s), "
        f"{metrics['reminders']} reminder(s)\n"
        f"Postmortem draft written to {path}\n"
    )
    demo.out.stream.flush()


def _metrics(incident: Incident, events: list[TimelineEvent]) -> dict[str, object]:
    def since_declared(when: datetime | None) -> str:
        if when is None:
            return "—"
        return format_duration(int((when - incident.declared_at).total_seconds()))

    def count(kind: str) -> int:
        return sum(1 for event in events if event.kind == kind)

    return {
        "tta": since_declared(incident.acknowledged_at),
        "ttm": since_declared(incident.mitigated_at),
        "ttr": since_declared(incident.resolved_at),
        "pages": count("paged"),
        "escalations": count("escalated"),
        "updates": count("status_update"),
        "reminders": count("update_reminder"),
    }


def _postmortem(
    ctx: Context, incident: Incident, events: list[TimelineEvent], metrics: dict[str, object]
) -> str:
    catalog = ctx.catalog
    return render(
        "postmortem_demo.md",
        incident=incident,
        events=events,
        metrics=metrics,
        demo=True,
        updates=[event for event in events if event.kind == "status_update"],
        service=catalog.service(incident.service),
        team=catalog.team(incident.team),
        declared_by=ctx.display(incident.declared_by),
        commander=ctx.display(incident.commander),
        acknowledged_by=ctx.display(incident.acknowledged_by),
        zone=catalog.timezone,
        display=lambda person: ctx.display(person) or "",
    )
