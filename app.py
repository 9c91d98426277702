"""Firebell's composition root and command line: settings in, adapters wired into workflows."""

from __future__ import annotations

import argparse
import csv
import io
import logging
import os
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import examples
from adapters.dispatcher import EffectDispatcher
from adapters.metrics import PrometheusMeter
from adapters.timers import SchedulerTimers
from bot.cli import Parser, UsageError, error_line, settings_help, version
from bot.console.sandbox import CONSOLE_DATABASE
from bot.logs import configure_logging
from bot.settings import Settings, load_settings
from bot.startup import (
    chat_unset,
    check_slack,
    delivery_warnings,
    status_lines,
    unreachable_people,
    workers_lines,
)
from storage import retention
from storage.db import upgrade
from storage.request_log import SqlRequestLog
from storage.schedule_store import SqlScheduleStore
from storage.store import SqlStore
from workflows.catalog.load import check_catalog, load_catalog
from workflows.catalog.model import Catalog, Team
from workflows.catalog.sections import Announcements
from workflows.clock import SystemClock
from workflows.context import Context
from workflows.deadlines import run_due
from workflows.dispatch import drain, inline
from workflows.durations import format_duration
from workflows.intake.intake import retry_pending
from workflows.intake.tickets import owe_missing_tickets
from workflows.oncall.changes import sync_catalog
from workflows.oncall.handoffs import schedule_tick
from workflows.ports import ChatPort, Clock, FirebellError, Message, PagerPort, TicketPort, Timers
from workflows.render import render
from workflows.times import parse_time

if TYPE_CHECKING:
    from bot.teams.chat import TeamsChat, TeamsPager
    from workflows.ports import Mailer, StatusPagePort

log = logging.getLogger("firebell")
DEMO_CATALOG = examples.path("demo.yaml")
STOP_GRACE_SECONDS = 10.0  # on SIGTERM: how long effects in flight may take to finish
KEEP_ALIVE_SECONDS = 5  # an idle keep-alive connection is closed after this


@dataclass
class Firebell:
    """Everything `serve` runs: the context plus what is only needed at the edges."""

    settings: Settings
    ctx: Context
    store: SqlStore
    timers: SchedulerTimers
    dispatcher: EffectDispatcher
    requests: SqlRequestLog  # signed Slack requests already answered (replays: bot/slack/replays)
    slack: Any = None  # slack_bolt.App when Slack is configured
    teams: Any = None  # bot.teams.app.TeamsFrontEnd when Teams is configured

    def start(self) -> None:
        """Start performing effects and waking for deadlines."""
        self.dispatcher.start()
        self.timers.start()

    def stop(self, *, grace: float = STOP_GRACE_SECONDS) -> None:
        """Stop taking work; finish what is in flight within `grace` seconds (SIGTERM, deploys)."""
        self.timers.shutdown()
        self.dispatcher.stop(grace=grace)

    def tick(self, *, settle_seconds: float = 10.0) -> int:
        """The scheduler's work at once, and the effects it owes performed before returning
        (here, or by the running dispatcher: waits up to `settle_seconds` for those)."""
        done = tick(self.ctx)
        drain(self.ctx, owner=f"tick-{self.dispatcher.owner}")
        give_up = time.monotonic() + settle_seconds
        while time.monotonic() < give_up:
            with self.ctx.unit() as uow:
                now = self.ctx.now()
                due = [e for e in uow.outbox.pending_effects() if e.not_before <= now]
            if not due:
                break
            time.sleep(0.02)
        return done


def housekeeping(ctx: Context) -> None:
    """On the scheduler's slow poll: handoffs due, alert groups left without an incident, and
    open incidents left without a ticket."""
    schedule_tick(ctx)
    retry_pending(ctx)
    owe_missing_tickets(ctx)


def prune_history(store: SqlStore, *, now: datetime) -> None:
    """On the poll too: retention (storage/retention.py) of delivered effects and old webhook
    deliveries, and of answered Slack requests past their replay window."""
    from bot.slack.replays import KEEP

    retention.prune(store.engine, now=now)
    SqlRequestLog(store.engine).prune(before=now - KEEP)


def tick(ctx: Context) -> int:
    """Everything the scheduler does, at once (the poll's work)."""
    housekeeping(ctx)
    return run_due(ctx)


def bootstrap(
    *, catalog: Catalog, database_url: str, chat: ChatPort, clock: Clock, timers: Timers,
    pagers: dict[str, PagerPort], tickets: TicketPort | None = None, public_url: str | None = None,
    dispatch: Callable[[Context], None] = inline, store: SqlStore | None = None,
) -> Context:
    """The one place a `Context` is made, for every entry point (serve, console, demo, reports,
    bench, tests): the database migrated, and every store on it (incidents, schedules, intake)."""
    upgrade(database_url)
    store = store or SqlStore(database_url)
    return Context(
        catalog=catalog, store=store, chat=chat, clock=clock, timers=timers, pagers=pagers,
        tickets=tickets, public_url=public_url, dispatch=dispatch,
        schedules=SqlScheduleStore(database_url, engine=store.engine),
    )


def build(settings: Settings, *, clock: Clock | None = None) -> Firebell:
    """Wire the real adapters for `serve`. Services whose settings are absent are off."""
    catalog = load_catalog(settings.firebell_config)
    upgrade(settings.database_url)
    store = SqlStore(settings.database_url)
    holder: dict[str, Any] = {}
    # A wake-up for a deadline acts on what is due; the poll also does the housekeeping.
    timers = SchedulerTimers(
        lambda: run_due(holder["ctx"]), poll_seconds=settings.firebell_poll_seconds,
        on_poll=lambda: (housekeeping(holder["ctx"]), prune_history(store, now=holder["ctx"].now())),
    )
    chat: ChatPort
    pagers: dict[str, PagerPort] = {}
    slack_app = None
    team_channel: Callable[[Team | Announcements], str | None] | None = None  # None: the team's Slack channel
    teams_parts = _teams_parts(settings, store=store) if settings.teams_enabled else None
    if settings.slack_enabled:
        from bot.slack.app import build_slack
        from bot.slack.chat import SlackChat, SlackPager

        slack_chat = SlackChat.create(
            token=settings.slack_bot_token or "", base_url=settings.slack_api_url, catalog=catalog,
            calendar_url=_calendar_url(settings),  # shown on the person's App Home
        )
        chat, pagers["chat"] = slack_chat, SlackPager(slack_chat)
        if teams_parts is not None:
            # A mixed organisation: each channel on its platform, each person on theirs.
            from bot.mixed import MixedChat, MixedPager

            teams_chat, _ = _teams_chat(settings, catalog=catalog, store=store, clock=clock,
                                        parts=teams_parts)
            mixed = MixedChat(slack_chat, teams_chat, catalog=catalog)
            chat, pagers["chat"], team_channel = mixed, MixedPager(mixed), mixed.team_channel
    elif teams_parts is not None:
        chat, pagers["chat"] = _teams_chat(settings, catalog=catalog, store=store, clock=clock,
                                           parts=teams_parts)
        team_channel = _teams_team_channel
    else:
        from adapters.no_pager import NoPager
        from bot.console.chat import ConsoleChat

        chat = ConsoleChat()  # channel posts are printed to stdout; nobody reads them there
        # A page printed to the server's stdout reaches nobody: it fails, with the reason.
        pagers["chat"] = NoPager(channels=frozenset({"chat"}),
                                 reason=f"no chat: {chat_unset(settings)} unset")
    if settings.twilio_enabled:
        from adapters.twilio_pager import TwilioPager

        if not settings.public_url:
            log.warning("PUBLIC_URL is unset: Twilio cannot report deliveries or key presses")
        twilio = TwilioPager(
            account_sid=settings.twilio_account_sid or "", auth_token=settings.twilio_auth_token or "",
            from_number=settings.twilio_from_number or "", api_url=settings.twilio_api_url,
            public_url=settings.public_url or "", phone_of=lambda person: catalog.person(person).phone,
        )
        pagers["sms"] = pagers["voice"] = twilio
    if settings.telegram_enabled:
        from adapters.telegram_pager import TelegramPager

        pagers["telegram"] = TelegramPager(
            token=settings.telegram_bot_token or "", api_url=settings.telegram_api_url,
            chat_of=lambda person: catalog.person(person).telegram_chat_id)
    mailer = _mailer(settings)
    if mailer is not None:  # the `email` paging channel; without SMTP, email rules page by chat
        from adapters.email_pager import EmailPager

        pagers["email"] = EmailPager(mailer, email_of=lambda person: catalog.person(person).email,
                                     channel_url=chat.channel_url)
    pagers["push"] = _push_pager(settings, catalog, chat)
    ctx = bootstrap(
        catalog=catalog, database_url=settings.database_url, store=store, chat=chat,
        clock=clock or SystemClock(), timers=timers, pagers=pagers, tickets=_tickets(settings),
        public_url=settings.public_url, dispatch=lambda _ctx: holder["dispatcher"].kick(),
    )
    holder["ctx"] = ctx
    ctx.meter = PrometheusMeter()  # /metrics: prometheus_client's default registry
    ctx.mailer = mailer
    if team_channel is not None:
        ctx.team_channel = team_channel
    ctx.leases["page"] = settings.firebell_page_lease_seconds
    ctx.status_page = _status_page(settings, catalog)
    dispatcher = holder["dispatcher"] = EffectDispatcher(ctx, yield_to=lambda: timers.acting)
    sync_catalog(ctx, source=catalog, at=ctx.now())  # a changed schedule is a new version
    if settings.slack_enabled:
        slack_app = build_slack(ctx=ctx, settings=settings)
    teams = _teams_front_end(settings, ctx=ctx, parts=teams_parts) if teams_parts else None
    return Firebell(settings=settings, ctx=ctx, store=store, timers=timers,
                    dispatcher=dispatcher, requests=SqlRequestLog(store.engine), slack=slack_app,
                    teams=teams)


def _teams_parts(settings: Settings, *, store: SqlStore) -> tuple[Any, Any, Any]:
    """Teams' conversation references, Bot Connector client and inbound token check."""
    from bot.teams.auth import BotFrameworkAuth
    from bot.teams.connector import BotConnector
    from storage.teams_store import SqlTeamsStore

    references = SqlTeamsStore(store.engine)
    connector = BotConnector(
        app_id=settings.teams_app_id or "", app_password=settings.teams_app_password or "",
        tenant_id=settings.teams_tenant_id or "", login_url=settings.teams_login_url,
        trusted=references.knows_service_url,  # only where an authenticated activity came from
    )
    auth = BotFrameworkAuth(app_id=settings.teams_app_id or "", openid_url=settings.teams_openid_url)
    return references, connector, auth


def _teams_chat(settings: Settings, *, catalog: Catalog, store: SqlStore, clock: Clock | None,
                parts: tuple[Any, Any, Any]) -> tuple[TeamsChat, TeamsPager]:
    """The chat and chat-page ports over Teams (bot/teams/chat.py), alone when Slack is off;
    channels through Graph when TEAMS_TEAM_ID is set."""
    from bot.teams.chat import TeamsChat, TeamsPager
    from bot.teams.graph import Graph

    references, connector, _auth = parts
    graph = Graph(
        client_id=settings.teams_app_id or "", client_secret=settings.teams_app_password or "",
        tenant_id=settings.teams_tenant_id or "", team_id=settings.teams_team_id,
        login_url=settings.teams_login_url, graph_url=settings.teams_graph_url,
    ) if settings.teams_team_id else None
    chat = TeamsChat(connector, references=references, catalog=catalog, store=store,
                     tenant_id=settings.teams_tenant_id or "", app_id=settings.teams_app_id or "",
                     graph=graph, clock=clock)
    return chat, TeamsPager(chat)


def _teams_team_channel(team: Team | Announcements) -> str | None:
    """Where a team's notices go when Teams is the only chat."""
    return team.teams_channel


def _calendar_url(settings: Settings) -> Callable[[str], str | None]:
    """A person's calendar feed URL; None without FIREBELL_CALENDAR_SECRET and PUBLIC_URL."""
    from bot.calendars import person_feed_url

    secret, public_url = settings.firebell_calendar_secret, settings.public_url

    def calendar_url(person: str) -> str | None:
        if not (secret and public_url):
            return None
        return person_feed_url(public_url=public_url, secret=secret, person=person)

    return calendar_url


def _teams_front_end(settings: Settings, *, ctx: Context, parts: tuple[Any, Any, Any]) -> Any:
    """The handler of `POST /api/messages` (bot/teams/app.py)."""
    from bot.calendars import person_feed_url
    from bot.teams.app import TeamsFrontEnd

    references, connector, auth = parts
    secret, public_url = settings.firebell_calendar_secret, settings.public_url

    def calendar_url(person: str) -> str | None:
        if not (secret and public_url):
            return None
        return person_feed_url(public_url=public_url, secret=secret, person=person)

    return TeamsFrontEnd(ctx, auth=auth, connector=connector, store=references,
                         calendar_url=calendar_url)


def _tickets(settings: Settings) -> TicketPort | None:
    """Jira when JIRA_* is set, else GitHub Issues when GITHUB_* is set, else no tickets."""
    if settings.jira_url and settings.jira_user and settings.jira_api_token and settings.jira_project:
        from adapters.jira import JiraTickets

        return JiraTickets(url=settings.jira_url, user=settings.jira_user,
                           api_token=settings.jira_api_token, project=settings.jira_project,
                           webhook_secret=settings.jira_webhook_secret)
    if settings.github_token and settings.github_repo:
        from adapters.github_issues import GitHubIssues

        return GitHubIssues(token=settings.github_token, repo=settings.github_repo,
                            api_url=settings.github_api_url,
                            webhook_secret=settings.github_webhook_secret)
    return None


def _mailer(settings: Settings) -> Mailer | None:
    """SMTP when SMTP_URL or SMTP_HOST is set (adapters/smtp.py), else no email."""
    from adapters.smtp import mailer_from_settings

    return mailer_from_settings(
        url=settings.smtp_url, host=settings.smtp_host, port=settings.smtp_port,
        user=settings.smtp_user, password=settings.smtp_password,
        starttls=settings.smtp_starttls, sender=settings.smtp_from)


def _push_pager(settings: Settings, catalog: Catalog, chat: ChatPort) -> PagerPort:
    """The `push` channel: ntfy (NTFY_URL has a default, so it is always on) for people with an
    ntfy_topic, Pushover for people with a pushover_user when PUSHOVER_APP_TOKEN is set. Pages
    carry a signed Acknowledge link when PUBLIC_URL and FIREBELL_CALLBACK_SECRET are set."""
    from adapters.push_pager import PushPager
    from bot.push import ack_url

    public_url, secret = settings.public_url, settings.firebell_callback_secret
    return PushPager(
        person_of=catalog.person, channel_url=chat.channel_url,
        ack_url=(lambda page: ack_url(page, public_url=public_url, secret=secret))
        if public_url and secret else (lambda page: None),
        ntfy_url=settings.ntfy_url, ntfy_token=settings.ntfy_token,
        pushover_token=settings.pushover_app_token, pushover_url=settings.pushover_api_url,
    )


def email_warnings(settings: Settings, catalog: Catalog) -> list[str]:
    """What `serve` and `config check` say when the catalog pages by email but SMTP is off."""
    if settings.smtp_enabled:
        return []
    uses = [f"priority {name}" for name, response in catalog.priorities.response.items()
            if "email" in response.channels]
    uses += [f"person {p.id}" for p in catalog.people if any(r.channel == "email" for r in p.notify)]
    if not uses:
        return []
    return [f"no email (SMTP_URL or SMTP_HOST unset): the `email` pages of {', '.join(uses)} go "
            "by the person's other channels (chat) instead; stakeholder email is not sent"]


def _status_page(settings: Settings, catalog: Catalog) -> StatusPagePort | None:
    """Atlassian Statuspage when STATUSPAGE_API_KEY and a page id (setting or catalog) are set."""
    page_id = settings.statuspage_page_id or catalog.status_page.statuspage.page_id
    if not (settings.statuspage_api_key and page_id):
        return None
    from adapters.statuspage import StatuspageIncidents

    return StatuspageIncidents(api_key=settings.statuspage_api_key, page_id=page_id,
                               api_url=settings.statuspage_api_url)


def _start_up_report(settings: Settings, catalog: Catalog, *, slack: tuple[int, str] | None,
                     workers: int) -> None:
    """Once, in the main process: each integration on or off (naming what a half-configured one
    lacks), Slack's workspace, and loud warnings when people cannot be paged."""
    lines = status_lines(settings, catalog) + ([slack] if slack else [])
    warnings = (delivery_warnings(settings) + unreachable_people(settings, catalog)
                + email_warnings(settings, catalog))
    lines += [(logging.WARNING, warning) for warning in warnings]
    for level, line in lines + workers_lines(settings, catalog, workers=workers):
        log.log(level, line)


def serve(settings: Settings) -> None:
    import uvicorn

    from bot.server import build_http_app

    configure_logging(settings.log_level, settings.log_format)
    # A token Slack refuses stops the start here, before anything is migrated or listened on.
    slack = check_slack(settings) if settings.slack_enabled else None
    firebell = build(settings)  # migrates and versions changed schedules, once, here
    workers = settings.firebell_workers
    if workers > 1 and settings.slack_app_token:
        log.warning("Slack Socket Mode keeps one connection: running 1 process, not %d", workers)
        workers = 1
    _start_up_report(settings, firebell.ctx.catalog, slack=slack, workers=workers)
    if workers > 1:
        # Each process is a replica: its own scheduler, the database deciding who acts on what.
        firebell.store.dispose()
        log.info("listening on %s", _listen_url(settings))
        uvicorn.run("app:worker_app", factory=True, workers=workers, host=settings.host,
                    port=settings.port, log_level=None, log_config=None,
                    timeout_keep_alive=KEEP_ALIVE_SECONDS)
        return
    http_app = build_http_app(firebell, lifespan=_lifespan(firebell))
    if settings.slack_enabled and settings.slack_app_token and firebell.slack is not None:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        SocketModeHandler(firebell.slack, settings.slack_app_token).connect()
    # On SIGTERM uvicorn stops accepting and finishes the requests in flight; then the lifespan
    # stops Firebell (effects in flight get STOP_GRACE_SECONDS). Not a `finally` after
    # uvicorn.run: uvicorn re-raises the signal once it is done, and the process ends there.
    # log_config=None, log_level=None: uvicorn's records (its access log too) go through the root
    # logger's handler, at the levels configure_logging set.
    log.info("listening on %s", _listen_url(settings))
    uvicorn.run(http_app, host=settings.host, port=settings.port, log_level=None,
                log_config=None, timeout_keep_alive=KEEP_ALIVE_SECONDS,
                timeout_graceful_shutdown=int(STOP_GRACE_SECONDS))


def _listen_url(settings: Settings) -> str:
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return f"http://{host}:{settings.port}"


def _lifespan(firebell: Firebell) -> Any:
    """Start Firebell with the server; on shutdown, stop it before the process exits."""
    from contextlib import asynccontextmanager

    import anyio.to_thread

    @asynccontextmanager
    async def lifespan(_app: Any) -> Any:
        firebell.start()
        try:
            yield
        finally:
            # In a thread: the grace period must not freeze the event loop it runs beside.
            await anyio.to_thread.run_sync(firebell.stop)

    return lifespan


def worker_app() -> Any:
    """The ASGI app of one process of `firebell serve` with FIREBELL_WORKERS > 1."""
    from bot.server import build_http_app

    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)  # spawned: main() did not run
    firebell = build(settings)
    return build_http_app(firebell, lifespan=_lifespan(firebell))


def _parser() -> argparse.ArgumentParser:
    parser = Parser(prog="firebell", description="Self-hosted incident response")
    parser.add_argument("--version", action="version", version=f"firebell {version()}")
    parser.add_argument("--debug", action="store_true",
                        help="log at DEBUG and show the traceback of an error")
    # `firebell serve --debug` too; SUPPRESS: a subcommand leaves a top-level --debug alone.
    common = Parser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="log at DEBUG and show the traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True)

    def command(parent: Any, name: str, **options: Any) -> argparse.ArgumentParser:
        return parent.add_parser(name, parents=[common], **options)  # type: ignore[no-any-return]

    command(sub, "serve", help="run the bot (HTTP server, Slack, scheduler)",
            description="Run the bot: the HTTP server, Slack and Teams, the scheduler.",
            epilog=settings_help(), formatter_class=argparse.RawDescriptionHelpFormatter)
    console = command(sub, "console", help="a terminal chat running the same workflows")
    console.add_argument("--database", default=None, help="URL or SQLite file (default: "
                         f"FIREBELL_CONSOLE_DATABASE, else {CONSOLE_DATABASE}; never DATABASE_URL)")
    demo = command(sub, "demo", help="play a scripted incident offline, at accelerated time")
    demo.add_argument("--speed", type=float, default=60.0, help="simulated seconds per second")
    demo.add_argument("--database", default=None, help="SQLite file (default: a temporary one)")
    config = command(sub, "config", help="catalog tools")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    check = command(config_sub, "check", help="validate the catalog; list every mistake")
    check.add_argument("path", nargs="?", default=None)
    db = command(sub, "db", help="database tools")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    command(db_sub, "upgrade", help="apply the Alembic migrations")
    simulate = command(sub, "simulate",
                       help="print who would be paged, when and how; sends nothing")
    simulate.add_argument("--service", required=True)
    simulate.add_argument("--priority", help="P1..P4 (or give --severity and --urgency)")
    simulate.add_argument("--severity")
    simulate.add_argument("--urgency", default="high")
    simulate.add_argument("--environment", help="default: the service's own (a non-production "
                          "service always simulates as its own environment, as intake does)")
    simulate.add_argument("--at", help="ISO time; without a zone, the catalog's (default: now)")
    simulate.add_argument("--drill", action="store_true")
    simulate.add_argument("--flags", default="", help="security,privacy,compliance")
    report = command(sub, "report", help="reports")
    report_sub = report.add_subparsers(dest="report_command", required=True)
    paging = command(report_sub, "paging", help="pages per person and night, ack times")
    paging.add_argument("--since", help="ISO date or time (default: 30 days ago)")
    paging.add_argument("--until", help="ISO date or time (default: now)")
    paging.add_argument("--csv", action="store_true", help="CSV: pages per person and night")
    for name, text in (("mttr", "TTD, TTA, TTM, TTR per priority and team (mean, median, p90)"),
                       ("frequency", "incidents per week or month and priority"),
                       ("noise", "signals, alerts, acks and self-resolved per alert rule"),
                       ("hours", "on-call hours per person and schedule, for compensation")):
        insight = command(report_sub, name, help=text)
        insight.add_argument("--since", help="ISO date or time (default: 90 days before --until)")
        insight.add_argument("--until", help="ISO date or time (default: now)")
        if name in ("mttr", "frequency"):
            insight.add_argument("--by", choices=["week", "month"], default="week",
                                 help="ISO weeks or months, of local dates in the catalog's zone")
        insight.add_argument("--csv", action="store_true", help="CSV instead of a table")
    teams = command(sub, "teams", help="Microsoft Teams tools")
    teams_sub = teams.add_subparsers(dest="teams_command", required=True)
    package = command(teams_sub, "package",
                      help="write the Teams app package (manifest, icons)")
    package.add_argument("--out", default="firebell-teams.zip", help="the zip to write")
    from bot.import_command import add_import_parser

    add_import_parser(sub, command)
    from bot.test_page_command import add_test_page_parser

    add_test_page_parser(sub, command)
    export = command(sub, "postmortem", help="print an incident's postmortem draft (Markdown)")
    export.add_argument("incident", type=_incident_argument, help="12, #12 or INC-12")
    return parser


def _incident_argument(text: str) -> int:
    from bot.incident_ids import incident_number

    try:
        number = incident_number(text)
    except FirebellError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    if number is None:
        raise argparse.ArgumentTypeError(f"not an incident: {text!r} (write 12, #12 or INC-12)")
    return number


def main(argv: list[str] | None = None) -> int:
    """`firebell <command>`. Every error is one line `firebell: error: ...` on stderr, exit
    status 2 for a usage error and 1 for anything else; the traceback only when debugging."""
    debug = os.environ.get("LOG_LEVEL", "").strip().upper() == "DEBUG"
    database: str | None = None  # what the command works on, named when it cannot be opened
    try:
        args = _parser().parse_args(argv)
        debug = debug or args.debug
        settings = load_settings(environment=os.environ)
        if args.debug:
            settings = settings.model_copy(update={"log_level": "DEBUG"})
        debug = settings.log_level == "DEBUG"
        configure_logging(settings.log_level, settings.log_format)
        database = _database_of(args, settings)
        return _run(args, settings)
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # noqa: BLE001 (the edge: every error becomes one line)
        if debug:
            import traceback

            traceback.print_exc()
        line, status = error_line(error, database=database)
        print(line, file=sys.stderr)
        return status


def _database_of(args: argparse.Namespace, settings: Settings) -> str | None:
    from bot.console.sandbox import sandbox_database_url

    if args.command == "console":
        return sandbox_database_url(
            args.database or settings.firebell_console_database or CONSOLE_DATABASE)
    if args.command == "demo":
        return sandbox_database_url(args.database) if args.database else None
    return None if args.command in ("config", "teams", "import") else settings.database_url


def _run(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "config":
        path = args.path or settings.firebell_config
        problems = check_catalog(path)
        for problem in problems:
            print(problem)
        if problems:
            raise FirebellError(f"{len(problems)} problem(s) in {path} (listed above)")
        print(f"{path}: OK")
        for warning in email_warnings(settings, load_catalog(path)):
            print(f"note: {warning}")
        return 0
    if args.command == "import":
        from bot.import_command import run_import

        return run_import(settings, args, _import_source)
    if args.command == "db":
        upgrade(settings.database_url)
        print("database is up to date")
        return 0
    if args.command == "simulate":
        return _simulate(settings, args)
    if args.command == "report":
        if args.report_command == "paging":
            return _paging_report(settings, args)
        return _insight_report(settings, args)
    if args.command == "teams":
        from bot.teams.package import write_package

        print(f"wrote {write_package(settings, args.out)}: upload it in the Teams admin center")
        return 0
    if args.command == "test-page":
        from bot.test_page_command import run_test_page

        return run_test_page(build(settings).ctx, args, out=sys.stdout)
    if args.command == "postmortem":
        from bot.console.chat import ConsoleChat
        from workflows.clock import ManualTimers
        from workflows.followup.postmortem import markdown

        ctx = build_console_context(
            catalog_path=settings.firebell_config, database_url=settings.database_url,
            clock=SystemClock(), timers=ManualTimers(), chat=ConsoleChat(), pagers={},
        )
        print(markdown(ctx, incident_id=args.incident))
        return 0
    if args.command == "demo":
        from bot.console.demo import run_demo

        return run_demo(catalog_path=DEMO_CATALOG, speed=args.speed, database=args.database,
                        build=build_console_context,
                        serve_database=settings.database_url)
    if args.command == "console":
        from bot.console.repl import run_console

        return run_console(settings=settings, build=build_console_context,
                           default_catalog=DEMO_CATALOG, database=args.database)
    serve(settings)
    return 0


def _import_source(settings: Settings, name: str) -> AbstractContextManager[Any]:
    """The source `firebell import <name>` reads, closed after; its settings checked first."""
    if name == "pagerduty":
        from adapters.importing.pagerduty import PagerDutySource

        if not settings.pagerduty_api_token:
            raise FirebellError("import pagerduty: PAGERDUTY_API_TOKEN is not set (a read-only "
                                "REST API key: PagerDuty > Integrations > API Access Keys)")
        return closing(PagerDutySource(api_url=settings.pagerduty_api_url,
                                       token=settings.pagerduty_api_token))
    from adapters.importing.grafana_oncall import GrafanaOnCallSource

    url, token = settings.grafana_oncall_api_url, settings.grafana_oncall_api_token
    missing = [variable for variable, value in (("GRAFANA_ONCALL_API_URL", url),
                                                ("GRAFANA_ONCALL_API_TOKEN", token)) if not value]
    if missing or not url or not token:
        raise FirebellError(f"import grafana-oncall: {' and '.join(missing)} not set (the "
                            "OnCall base URL, and an API token from OnCall > Settings > API "
                            "Tokens)")
    return closing(GrafanaOnCallSource(api_url=url, token=token))


def _when(option: str, text: str | None, zone: str, default: datetime) -> datetime:
    """The time an option gives; a usage error naming the option when it cannot be read."""
    try:
        return parse_time(text, zone=zone) if text else default
    except FirebellError as error:
        raise UsageError(f"{option}: {error}") from None


def _simulate(settings: Settings, args: argparse.Namespace) -> int:
    from workflows.paging.simulate import escalation_plan
    from workflows.render import render

    catalog = load_catalog(settings.firebell_config)
    at = _when("--at", args.at, catalog.timezone, datetime.now(UTC))
    channels = {"chat", "push"} | ({"sms", "voice"} if settings.twilio_enabled else set())
    channels |= {"telegram"} if settings.telegram_enabled else set()
    try:
        plan = escalation_plan(
            catalog, service_id=args.service, priority=args.priority, at=at,
            severity=args.severity or "critical", urgency=args.urgency,
            environment=args.environment, channels=frozenset(channels), drill=args.drill,
            flags=tuple(f for f in args.flags.split(",") if f),
        )
    except (LookupError, FirebellError) as error:  # an unknown service, priority, ...: named
        message = error.args[0] if isinstance(error, LookupError) and error.args else error
        raise UsageError(f"simulate: {message}") from None
    if not settings.twilio_enabled:
        plan.notes.append("Twilio is off (TWILIO_* unset): SMS and voice pages would not go out")
    if not settings.slack_enabled:
        plan.notes.append("Slack is off (SLACK_* unset): chat pages would fail, not reach anyone")

    def offset(when: datetime) -> str:
        return format_duration(int((when - plan.start).total_seconds())) if when > plan.start else "0s"

    print(render("simulate", plan=plan, zone=catalog.timezone, offset=offset))
    return 0


def _paging_report(settings: Settings, args: argparse.Namespace) -> int:
    from workflows.paging.report import report_for

    catalog = load_catalog(settings.firebell_config)
    now = datetime.now(UTC)
    until = _when("--until", args.until, catalog.timezone, now)
    since = _when("--since", args.since, catalog.timezone, until - timedelta(days=30))
    upgrade(settings.database_url)  # once the arguments are known to be good
    ctx = bootstrap(catalog=catalog, database_url=settings.database_url, chat=_NoChat(),
                    clock=SystemClock(), timers=_NoTimers(), pagers={})
    if args.csv:  # per person and night, as /api/v1/insights/pages-per-night
        from workflows import insights

        print(insights.rows_csv(insights.pages_per_night(ctx, since=since, until=until),
                                 of=insights.NightRow), end="")
        ctx.store.dispose()  # type: ignore[attr-defined]
        return 0
    report = report_for(ctx, start=since, end=until)
    print(render("paging_report", rows=report, start=since, end=until,
                 duration=lambda s: format_duration(int(s))))
    ctx.store.dispose()  # type: ignore[attr-defined]
    return 0


def _insight_report(settings: Settings, args: argparse.Namespace) -> int:
    """`firebell report mttr|frequency|noise|hours`: workflows/insights.py's rows, the same
    numbers as /api/v1/insights, as an aligned table or (`--csv`) CSV."""
    from workflows import insights

    catalog = load_catalog(settings.firebell_config)
    until = _when("--until", args.until, catalog.timezone, datetime.now(UTC))
    since = _when("--since", args.since, catalog.timezone, until - timedelta(days=90))
    if since >= until:
        raise UsageError(f"report {args.report_command}: --since must be before --until")
    upgrade(settings.database_url)  # once the arguments are known to be good
    ctx = bootstrap(catalog=catalog, database_url=settings.database_url, chat=_NoChat(),
                    clock=SystemClock(), timers=_NoTimers(), pagers={})
    try:
        if args.report_command == "mttr":
            rows: list[Any] = insights.response_times(ctx, since=since, until=until, by=args.by)
        elif args.report_command == "frequency":
            rows = insights.frequency(ctx, since=since, until=until, by=args.by)
        elif args.report_command == "noise":
            rows = insights.noise(ctx, since=since, until=until)
        else:
            rows = insights.oncall_hours(ctx, since=since, until=until)
    finally:
        ctx.store.dispose()  # type: ignore[attr-defined]
    text = insights.rows_csv(rows)
    if args.csv:
        print(text, end="")
        return 0
    print(f"{args.report_command}: {since.isoformat()} to {until.isoformat()} ({catalog.timezone})")
    table = list(csv.reader(io.StringIO(text)))
    if not table:
        print("(nothing in this period)")
        return 0
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0


class _NoChat:
    """Reports only read: anything that would talk to a chat is a programming error."""

    def _refuse(self) -> NoReturn:
        raise RuntimeError("a report must not post to chat")

    def create_channel(self, *, name: str, private: bool) -> str:
        self._refuse()

    def invite(self, *, channel: str, people: list[str]) -> None:
        self._refuse()

    def set_topic(self, *, channel: str, topic: str) -> None:
        self._refuse()

    def channel_link(self, channel: str) -> str:
        return channel

    def channel_url(self, channel: str) -> str | None:
        return None

    def post(self, *, channel: str, message: Message) -> str:
        self._refuse()

    def send_direct(self, *, person: str, message: Message) -> str:
        self._refuse()


class _NoTimers:
    def wake_at(self, when: datetime) -> None:
        return None


def build_console_context(
    *, catalog_path: Path | str, database_url: str, clock: Clock, timers: Timers, chat: ChatPort,
    pagers: dict[str, PagerPort],
) -> Context:
    """The context the console and the demo run on: the same workflows, local chat and pager."""
    return bootstrap(catalog=load_catalog(catalog_path), database_url=database_url, chat=chat,
                     clock=clock, timers=timers, pagers=pagers)


if __name__ == "__main__":
    raise SystemExit(main())
