"""`firebell console`: a terminal chat on the real workflows, to try the commands without Slack.

Type `/incident ...` and `/oncall ...` as in Slack; `/as bob` to speak as someone else;
`/wait 30s` to let time pass (deadlines such as escalations fall due on the way). Any other line
is a chat message in the current incident channel and joins its timeline.
"""

from __future__ import annotations

import logging
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from bot.commands import Commands, Invocation, Reply
from bot.console.chat import ConsoleChat, ConsolePager, ConsoleWriter
from bot.console.sandbox import (
    CONSOLE_DATABASE,
    ContextBuilder,
    describe_database,
    sandbox_database_url,
)
from workflows.clock import ManualTimers
from workflows.context import Context
from workflows.deadlines import run_due
from workflows.durations import format_duration, parse_duration
from workflows.incident.capture import record_chat_message
from workflows.ports import ChatMessage, FirebellError, InvalidRequest, NotFound, PagerPort

if TYPE_CHECKING:
    from bot.settings import Settings

log = logging.getLogger(__name__)

HELP = """\
Console commands:
  /incident <subcommand> ...   the incident commands, as in Slack (try `/incident help`)
  /oncall [team|service]       who is on call now and next
  /as <person>                 speak as someone else from the catalog
  /join <#channel>             switch to another channel
  /wait <duration>             let time pass, e.g. `/wait 30s`, `/wait 5m`
  /help                        this text
  /quit                        leave (Ctrl-D works too)
Any other line is a chat message in the current incident channel."""


class ConsoleClock:
    """Real time plus an offset that `/wait` moves forward: fast-forward without sleeping."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, delta: timedelta) -> datetime:
        self.offset += delta
        return self.now()

    def advance_to(self, when: datetime) -> None:
        self.offset += max(timedelta(0), when - self.now())


@dataclass
class _Session:
    ctx: Context
    commands: Commands
    clock: ConsoleClock
    out: ConsoleWriter
    user: str
    channel: str | None = None


def run_console(
    *,
    settings: Settings,
    build: ContextBuilder,
    default_catalog: Path | str,
    database: str | None = None,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
) -> int:
    """Run the terminal chat until `/quit` or end of input; returns the exit status.

    The console is a sandbox: its database is `database` (a URL or a SQLite file), else
    FIREBELL_CONSOLE_DATABASE, else `firebell-console.db` here — never DATABASE_URL, so that a
    practice incident is never seen, escalated and paged by `firebell serve`.
    """
    logging.getLogger("alembic").setLevel(logging.WARNING)  # migration chatter is not chat
    reading = stdin or sys.stdin
    writing = stdout or sys.stdout
    catalog_path = (
        settings.firebell_config if Path(settings.firebell_config).exists() else default_catalog
    )
    database_url = sandbox_database_url(
        database or settings.firebell_console_database or CONSOLE_DATABASE
    )
    clock = ConsoleClock()
    chat = ConsoleChat(clock, stream=writing)
    pager = ConsolePager(clock, stream=writing)
    pagers: dict[str, PagerPort] = {"chat": pager, "sms": pager, "voice": pager}
    ctx = build(
        catalog_path=catalog_path,
        database_url=database_url,
        clock=clock,
        timers=ManualTimers(),
        chat=chat,
        pagers=pagers,
    )
    # The chat and pager learn names, phones and the time zone once the catalog is loaded.
    chat.attach(ctx.catalog)
    chat.reserve(known_channels(ctx))
    pager.attach(ctx.catalog)
    people = ctx.catalog.people
    session = _Session(
        ctx=ctx,
        commands=Commands(ctx, forms=False),
        clock=clock,
        out=ConsoleWriter(clock, stream=writing, zone=ctx.catalog.timezone),
        user=people[0].id if people else "you",
    )
    writing.write(
        f"Firebell console — catalog {catalog_path}\n"
        f"Database {describe_database(database_url, serve_url=settings.database_url)}\n"
        "Pages and posts are printed here; nothing leaves this machine. "
        "Deadlines are checked after every line. /help for help.\n"
    )
    interactive = stdin is None and reading.isatty()
    run_due(ctx)  # deadlines that fell due while no process was running
    try:
        while True:
            line = _read(reading, writing, f"you ({session.user})> ", interactive=interactive)
            if line is None or line.strip() in ("/quit", "/exit"):
                break
            try:
                _handle(session, line.strip())
                run_due(ctx)
            except FirebellError as error:
                writing.write(f"⚠ {error}\n")
            except Exception:  # a defect of ours: its traceback goes to the log, not the chat
                log.exception("a console line failed: %r", line[:200])
                writing.write("⚠ Something went wrong in Firebell; the details are in its log.\n")
            writing.flush()
    finally:
        dispose = getattr(ctx.store, "dispose", None)
        if callable(dispose):
            dispose()
    writing.write("bye\n")
    return 0


def known_channels(ctx: Context) -> list[str]:
    """The channels of incidents already in the database, so that a new one gets a name of its own."""
    with ctx.store.transaction() as tx:
        incidents = tx.list_incidents(open_only=False, limit=100_000)
    return [incident.channel for incident in incidents if incident.channel]


def _read(reading: TextIO, writing: TextIO, prompt: str, *, interactive: bool) -> str | None:
    if interactive:
        try:
            return input(prompt)
        except EOFError:
            return None
    writing.write(prompt)
    line = reading.readline()
    if not line:
        writing.write("\n")
        return None
    writing.write(line if line.endswith("\n") else line + "\n")  # piped input is not echoed
    return line.rstrip("\n")


def _handle(session: _Session, line: str) -> None:
    if not line:
        return
    word, _, rest = line.partition(" ")
    word = word.lower()
    if word in ("/incident", "/oncall"):
        invocation = Invocation(
            command=word[1:], text=rest, user=session.user, channel=session.channel
        )
        _show(session, session.commands.handle(invocation))
    elif word == "/as":
        person = session.ctx.catalog.find_person(rest)
        session.user = person.id
        session.out.line(f"you are now {person.name} ({person.id})")
    elif word == "/join":
        _join(session, rest.strip())
    elif word == "/wait":
        _wait(session, rest)
    elif word == "/help":
        session.out.stream.write(HELP + "\n")
    elif word.startswith("/"):
        raise InvalidRequest(f"unknown command {word}; /help lists them")
    else:
        _say(session, line)


def _show(session: _Session, reply: Reply) -> None:
    session.out.line(f"firebell (to {session.user}): {reply.text}")
    if (
        reply.incident is not None
        and reply.incident.channel
        and reply.incident.channel != session.channel
    ):
        session.channel = reply.incident.channel
        session.out.line(f"(you are now in {session.channel})")


def _join(session: _Session, channel: str) -> None:
    name = channel if channel.startswith("#") else f"#{channel}"
    with session.ctx.store.transaction() as tx:
        incident = tx.incident_by_channel(name)
    if incident is None:
        raise NotFound(f"no incident channel {name}; `/incident list` shows them")
    session.channel = name
    session.out.line(f"(you are now in {name}, {incident.ref})")


def _wait(session: _Session, text: str) -> None:
    """Move the clock forward, stopping at every deadline on the way, as real time would."""
    duration = parse_duration(text.strip() or "0s")
    target = session.clock.now() + duration.as_timedelta()
    session.out.line(f"(waiting {format_duration(duration.seconds)} …)")
    while True:
        with session.ctx.store.transaction() as tx:
            due = tx.next_due_at()
        if due is None or due > target:
            break
        session.clock.advance_to(due)
        run_due(session.ctx)
    session.clock.advance_to(target)


def _say(session: _Session, text: str) -> None:
    if session.channel is None:
        raise InvalidRequest("you are in no channel: declare an incident or `/join #inc-...` first")
    session.out.line(f"{session.channel}  {session.user}: {text}")
    record_chat_message(session.ctx, channel=session.channel, message=ChatMessage(
        message_id=f"console-{uuid.uuid4().hex}", author=session.user, text=text,
        at=session.ctx.now()))
