"""The HTTP face of `firebell serve`: Slack's events, health, metrics and the JSON API.

`routes(firebell)` is a plain list; other front-ends (webhooks, Twilio, Teams) add theirs to it.
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from slack_bolt.adapter.starlette.handler import to_bolt_request
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from bot.calendars import calendar_routes
from bot.http_guard import BodyGuard, webhook_route
from bot.insight_routes import insight_routes
from bot.postmortem_routes import postmortem_routes
from bot.push import push_routes
from bot.slack.replays import Answer, SlackReplays
from bot.status_routes import status_routes
from bot.telegram import telegram_routes
from bot.twilio import twilio_routes
from bot.web import web_app
from bot.webhooks import webhook_routes
from storage.db import writable
from storage.gauges import read_gauges
from workflows.incident import queries
from workflows.paging import report as reports
from workflows.ports import FirebellError
from workflows.times import parse_time

if TYPE_CHECKING:
    from bot.host import Host

log = logging.getLogger(__name__)


def build_http_app(
    firebell: Host, *, extra_routes: Iterable[BaseRoute] = (), lifespan: Any = None
) -> Starlette:
    """The ASGI app `firebell serve` runs under uvicorn."""
    token = firebell.settings.firebell_api_token
    app = Starlette(
        routes=[*routes(firebell), *extra_routes],
        middleware=[Middleware(BodyGuard, meter=firebell.ctx.meter),
                    Middleware(ApiToken, token=token)],
        lifespan=lifespan,
    )
    # The web view (behind its own sign-in) answers whatever no route above takes, after them:
    # their paths, their 405s and their own authentication stay as they are.
    app.router.default = web_app(firebell.ctx, firebell.settings)
    return app


# Firebell's own outbound numbers, for phones to allowlist: nothing secret in it.
_PUBLIC_API = frozenset({"/api/v1/contact.vcf"})
# Slack's timestamp is Unix seconds; anything else is not Slack (and a 400-digit number
# overflows the signature check's arithmetic).
_SLACK_TIMESTAMP = re.compile(r"[0-9]{1,12}")
# What Bolt fails with on a body it cannot read (not JSON, a list where an object belongs).
_UNREADABLE = (ValueError, TypeError, AttributeError, KeyError, IndexError)


class ApiToken:
    """Every `/api/v1/` request must present FIREBELL_API_TOKEN as `Authorization: Bearer`,
    compared in constant time. Not in the URL: URLs end up in proxies' and browsers' logs (only
    calendar feeds carry their own narrow token there). Without the setting the API is off."""

    def __init__(self, app: ASGIApp, *, token: str | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/api/v1/") or path in _PUBLIC_API:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if self.token is None:
            response: Response = JSONResponse(
                {"error": "the JSON API is off: set FIREBELL_API_TOKEN"}, status_code=403
            )
        elif not hmac.compare_digest(given.encode(), self.token.encode()):
            response = JSONResponse(
                {"error": "missing or wrong API token (Authorization: Bearer <FIREBELL_API_TOKEN>)"},
                status_code=401, headers={"WWW-Authenticate": "Bearer"},
            )
        else:
            await self.app(scope, receive, send)
            return
        await response(scope, receive, send)


def routes(firebell: Host) -> list[BaseRoute]:
    # This Firebell's database gauges, beside the process-wide default registry (the meter's
    # counters and histograms, process and Python metrics): each replica serves its own.
    registry = CollectorRegistry()
    registry.register(_StoreCollector(firebell))
    # Everything below is blocking (SQL, Bolt's dispatch): it runs in the thread pool, never on
    # the event loop.

    signing_secret = firebell.settings.slack_signing_secret
    # Replays are answered from the database, so that every replica knows them.
    replays = SlackReplays(
        requests=firebell.requests, signing_secret=signing_secret
    ) if signing_secret else None

    async def slack_events(request: Request) -> Response:
        if firebell.slack is None:
            return PlainTextResponse(
                "Slack is off: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET", status_code=404
            )
        if replays is None:  # Socket Mode only: nothing can be verified over HTTP
            return PlainTextResponse(
                "Slack over HTTP is off: set SLACK_SIGNING_SECRET", status_code=404
            )
        # Refused before the body is read: a request Slack cannot have signed.
        timestamp = request.headers.get("x-slack-request-timestamp", "")
        if not (_SLACK_TIMESTAMP.fullmatch(timestamp) and request.headers.get("x-slack-signature")):
            return PlainTextResponse("invalid request signature", status_code=401)
        body, slack = await request.body(), firebell.slack

        def handle() -> Answer:
            # Signed, yet not a Slack payload (not JSON, a list where an object belongs): 400.
            try:
                bolt_request = to_bolt_request(request, body)
            except _UNREADABLE as error:
                return Answer(400, f"cannot read Slack's request ({type(error).__name__})",
                              "text/plain; charset=utf-8")
            response = slack.dispatch(bolt_request)
            content_type = response.headers.get("content-type") or [""]
            return Answer(response.status, response.body, content_type[0])

        answer = await run_in_threadpool(
            replays.answer, body=body, headers=request.headers, handle=handle
        )
        headers = {"content-type": answer.content_type} if answer.content_type else None
        return Response(answer.body, status_code=answer.status, headers=headers)

    async def healthz(request: Request) -> Response:
        database = await _database(firebell)
        scheduler = bool(firebell.timers.running)
        ok = database == "ok" and scheduler
        return JSONResponse(
            {"status": "ok" if ok else "unavailable", "database": database,
             "scheduler": "running" if scheduler else "stopped"},
            status_code=200 if ok else 503,
        )

    async def metrics(request: Request) -> Response:
        body = await run_in_threadpool(lambda: generate_latest(REGISTRY) + generate_latest(registry))
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    async def oncall(request: Request) -> Response:
        params = request.query_params
        query = params.get("schedule") or params.get("team") or params.get("service")
        try:
            at = parse_time(params["at"], zone=firebell.ctx.catalog.timezone) if params.get("at") else firebell.ctx.now()
            answers = queries.who_is_on_call(firebell.ctx.catalog, query=query, at=at)
        except FirebellError as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        return JSONResponse({"at": at.isoformat(), "oncall": [
            {"schedule": a.schedule, "team": a.team, "now": _people(firebell, a.now),
             "next_at": a.next_at.isoformat() if a.next_at else None,
             "next": _people(firebell, a.next_people),
             "layers": [{"layer": layer.layer, "now": _people(firebell, _one(layer.now)),
                         "next_at": _iso(layer.next_at), "next": _people(firebell, _one(layer.next))}
                        for layer in a.layers]}
            for a in answers
        ]})

    async def paging_report(request: Request) -> Response:
        params = request.query_params
        try:
            end = parse_time(params["until"], zone=firebell.ctx.catalog.timezone) if params.get("until") else firebell.ctx.now()
            start = parse_time(params["since"], zone=firebell.ctx.catalog.timezone) if params.get("since") else end - timedelta(days=30)
        except FirebellError as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        report = await run_in_threadpool(
            reports.report_for, firebell.ctx, start=start, end=end
        )
        return JSONResponse({"since": start.isoformat(), "until": end.isoformat(),
                             "people": reports.report_json(report)})

    async def teams(request: Request) -> Response:
        if firebell.teams is None:  # 404, not 5xx: the Bot Framework retries those
            return JSONResponse(
                {"error": "Microsoft Teams is not supported until TEAMS_APP_ID, "
                          "TEAMS_APP_PASSWORD and TEAMS_TENANT_ID are set"},
                status_code=404,
            )
        response: Response = await firebell.teams.messages(request)  # bot/teams/app.py
        return response

    return [
        webhook_route("/api/messages", teams, lambda: firebell.ctx.meter),
        Route("/api/v1/reports/paging", paging_report, methods=["GET"]),
        webhook_route("/slack/events", slack_events, lambda: firebell.ctx.meter),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        *insight_routes(firebell),  # /api/v1/incidents (filters, past ones), insights, OpenAPI
        Route("/api/v1/oncall", oncall, methods=["GET"]),
        *calendar_routes(firebell),
        *webhook_routes(firebell),
        *twilio_routes(firebell),
        *telegram_routes(firebell),  # the Acknowledge button of telegram pages
        *push_routes(firebell),  # signed Acknowledge links of ntfy and Pushover pages
        *postmortem_routes(firebell),
        *status_routes(firebell),  # public: no token
    ]


# /healthz answers within this, whatever the database does: a probe is not a place to wait.
HEALTH_WAIT_SECONDS = 2.0


async def _database(firebell: Host) -> str:
    """"ok" when the database takes a write now, else why not ("locked", "read-only", ...).

    Reachable is not enough: a locked or read-only database answers reads but loses every
    acknowledgement. A probe that hangs is abandoned to finish on its own (its own waits are
    short) and reported as no answer."""
    with anyio.move_on_after(HEALTH_WAIT_SECONDS):
        reason = await anyio.to_thread.run_sync(
            lambda: writable(firebell.store.engine, timeout=1.0), abandon_on_cancel=True
        )
        return reason or "ok"
    return f"no answer within {HEALTH_WAIT_SECONDS:g} s"


def _people(firebell: Host, people: Sequence[str]) -> list[dict[str, str | None]]:
    return [{"id": p, "name": firebell.ctx.display(p)} for p in people]


def _one(person: str | None) -> list[str]:
    return [person] if person else []


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


class _StoreCollector(Collector):
    """Read at scrape time: open incidents by state and priority, effects pending and how long
    the oldest has waited, pages in doubt, and when the scheduler last ran its due work."""

    def __init__(self, firebell: Host) -> None:
        self.firebell = firebell

    def collect(self) -> Iterable[GaugeMetricFamily]:
        up = GaugeMetricFamily("firebell_database_up",
                               "1 when this scrape could read the database, else 0")
        try:
            now = self.firebell.ctx.now()
            gauges = read_gauges(self.firebell.store.engine, now=now)
        except Exception:  # the process metrics are still worth serving; the gauge says why not
            log.warning("/metrics could not read the database", exc_info=True)
            up.add_metric([], 0)
            yield up
            yield from self._scheduler()
            return
        up.add_metric([], 1)
        yield up
        incidents = GaugeMetricFamily(
            "firebell_open_incidents", "Open incidents by state and priority",
            labels=["state", "priority"],
        )
        for (state, priority), count in sorted(gauges.open_incidents.items()):
            incidents.add_metric([state, priority], count)
        yield incidents
        pending = GaugeMetricFamily("firebell_effects_pending",
                                    "Effects owed and not yet performed, by kind", labels=["kind"])
        for kind, count in sorted(gauges.effects_pending.items()):
            pending.add_metric([kind], count)
        yield pending
        since = gauges.oldest_waiting_since
        yield GaugeMetricFamily(
            "firebell_effects_oldest_pending_age_seconds",
            "How long the longest-waiting due effect has been owed (0: none waits)",
            value=max(0.0, (now - since).total_seconds()) if since else 0.0,
        )
        yield GaugeMetricFamily(
            "firebell_pages_in_doubt",
            "Pages claimed for sending whose delivery is not known yet (status sending)",
            value=gauges.pages_in_doubt,
        )
        yield from self._scheduler()

    def _scheduler(self) -> Iterable[GaugeMetricFamily]:
        last_run = self.firebell.timers.last_run
        if last_run is not None:  # absent until the first run: alert on absent() or its age
            yield GaugeMetricFamily(
                "firebell_scheduler_last_run_timestamp_seconds",
                "When this process's scheduler last ran its due work through (Unix time)",
                value=last_run.timestamp(),
            )
