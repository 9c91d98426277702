"""The pages of the read-only web view (server-rendered HTML, no JavaScript).

- `/` who is on call now and next, for every team and schedule;
- `/schedules/{id}` four weeks of shifts as a timeline (layers, overrides, the final row) and
  the calendar feed;
- `/incidents` open and past incidents, filtered by team, service, priority and dates, a page
  at a time; `/incidents/{id}` one incident: roles, timeline, pages, alerts, tickets,
  postmortem, action items;
- `/reports`, `/reports/{name}` and `/reports/{name}.csv` the insights as charts, tables, CSV.

Every page reads `request.state.person`, the signed-in catalog person that `bot/web/auth.py`'s
guard sets; times are shown in that person's zone. Pages only read: each in one reading unit.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from jinja2 import PackageLoader, StrictUndefined, select_autoescape
from jinja2.sandbox import SandboxedEnvironment
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from bot.calendars import calendar_token, person_feed_url
from bot.incident_ids import incident_number
from bot.web.reports import REPORTS, Period, Shown, show
from bot.web.timeline import layout
from workflows import insights
from workflows.catalog.model import Catalog, Person
from workflows.context import Context
from workflows.errors import InvalidRequest, NotFound
from workflows.incident.queries import OnCallAnswer, who_is_on_call
from workflows.insight_model import IncidentQuery
from workflows.model import ROLES

WEEKS = 4  # of shifts on a schedule's page
PER_PAGE = 25  # incidents on one page of the list
REPORT_DAYS = 91  # a quarter: the reports' period unless one is asked for
_HEADERS = {"Cache-Control": "no-store"}  # pages of a signed-in person: no shared caches


def routes(ctx: Context, *, calendar_secret: str | None = None) -> list[BaseRoute]:
    """The pages. `calendar_secret` (FIREBELL_CALENDAR_SECRET) with `ctx.public_url` shows the
    calendar feed links."""
    pages = _Pages(ctx, calendar_secret)
    return [
        Route("/", pages.oncall, methods=["GET"]),
        Route("/schedules/{schedule}", pages.schedule, methods=["GET"]),
        Route("/incidents", pages.incidents, methods=["GET"]),
        Route("/incidents/{incident}", pages.incident, methods=["GET"]),
        Route("/reports", pages.reports, methods=["GET"]),
        Route("/reports/{name}.csv", pages.report_csv, methods=["GET"]),
        Route("/reports/{name}", pages.report, methods=["GET"]),
    ]


class _Pages:
    def __init__(self, ctx: Context, calendar_secret: str | None) -> None:
        self.ctx = ctx
        self.secret = calendar_secret

    # on call --------------------------------------------------------------------------------
    async def oncall(self, request: Request) -> Response:
        catalog, now = self.ctx.catalog, self.ctx.now()
        answers = await run_in_threadpool(who_is_on_call, catalog, query=None, at=now)
        teams: dict[str, list[OnCallAnswer]] = {t.id: [] for t in catalog.teams}
        for answer in answers:
            teams.setdefault(answer.team, []).append(answer)
        person = _person(request)
        feed = None
        if person is not None and self.secret and self.ctx.public_url:
            feed = person_feed_url(public_url=self.ctx.public_url, secret=self.secret,
                                   person=person.id)
        return self._html(request, "oncall", teams=teams, feed=feed,
                          team_name=lambda t: _team_name(catalog, t),
                          schedule_name=lambda s: catalog.schedule(s).name or s)

    async def schedule(self, request: Request) -> Response:
        catalog = self.ctx.catalog
        schedule_id = request.path_params["schedule"]
        try:
            schedule = catalog.schedule(schedule_id)
        except LookupError:
            return self._missing(request, f"There is no schedule '{schedule_id}'.")
        zone = ZoneInfo(catalog.schedule_zone(schedule_id))
        now = self.ctx.now()
        try:
            first = _date(request.query_params.get("from")) or now.astimezone(zone).date()
        except InvalidRequest as error:
            return self._bad(request, str(error))
        timeline = await run_in_threadpool(layout, catalog, schedule_id=schedule_id, first=first,
                                           weeks=WEEKS, now=now)
        feed = None
        if self.secret and self.ctx.public_url:
            token = calendar_token(self.secret, f"schedule:{schedule_id}")
            feed = f"{self.ctx.public_url.rstrip('/')}/calendars/{schedule_id}.ics?token={token}"
        span = timedelta(days=7 * WEEKS)
        return self._html(
            request, "schedule", schedule=schedule, timeline=timeline, feed=feed,
            team=_team_name(catalog, schedule.team), names=_names(catalog),
            earlier=(timeline.start - span).isoformat(), later=(timeline.start + span).isoformat())

    # incidents ------------------------------------------------------------------------------
    async def incidents(self, request: Request) -> Response:
        params = request.query_params
        catalog = self.ctx.catalog
        zone = _zone(self.ctx, request)
        try:
            since, until = _date(params.get("from")), _date(params.get("to"))
            query = IncidentQuery(
                state="open" if params.get("state", "open") == "open" else "all",
                team=params.get("team") or None, service=params.get("service") or None,
                priority=params.get("priority") or None,
                since=_start_of(since, zone),
                until=_start_of(until + timedelta(days=1), zone) if until else None,
                limit=PER_PAGE, before_id=insights.parse_cursor(params.get("before")))
            found = await run_in_threadpool(insights.find_incidents, self.ctx, query)
        except InvalidRequest as error:
            return self._bad(request, str(error))
        kept = {k: v for k, v in params.items() if k != "before" and v}
        older = None
        if found.next_cursor:
            older = "/incidents?" + urlencode({**kept, "before": found.next_cursor})
        priorities = sorted(catalog.priorities.response)
        return self._html(
            request, "incidents", found=found.incidents, query=query, older=older,
            newest="/incidents?" + urlencode(kept) if params.get("before") else None,
            form={"state": query.state, "team": query.team or "", "service": query.service or "",
                  "priority": query.priority or "", "from": params.get("from", ""),
                  "to": params.get("to", "")},
            teams=catalog.teams, services=catalog.services, priorities=priorities)

    async def incident(self, request: Request) -> Response:
        text = request.path_params["incident"]
        try:
            number = incident_number(text)
        except InvalidRequest:
            number = None
        if number is None:
            return self._missing(request, "There is no such incident.")
        try:
            view = await run_in_threadpool(
                lambda: insights.incident_detail(self.ctx, incident_id=number))
        except NotFound:
            return self._missing(request, f"There is no incident INC-{number}.")
        return self._html(request, "incident", view=view, roles=ROLES,
                          team=_team_name(self.ctx.catalog, view.incident.team))

    # reports --------------------------------------------------------------------------------
    async def reports(self, request: Request) -> Response:
        try:
            period = self._period(request)
            shown = await run_in_threadpool(self._all_reports, period)
        except InvalidRequest as error:
            return self._bad(request, str(error))
        return self._html(request, "reports", shown=shown, form=self._form(request, period),
                          one=None)

    def _all_reports(self, period: Period) -> list[Shown]:
        with insights.shared_facts():  # the period's incidents are read once for them all
            return [show(self.ctx, name, period) for name in REPORTS]

    async def report(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in REPORTS:
            return self._missing(request, f"There is no report '{name}'.")
        try:
            period = self._period(request)
            shown = await run_in_threadpool(show, self.ctx, name, period)
        except InvalidRequest as error:
            return self._bad(request, str(error))
        return self._html(request, "reports", shown=[shown], form=self._form(request, period),
                          one=name)

    async def report_csv(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in REPORTS:
            return self._missing(request, f"There is no report '{name}'.")
        try:
            shown = await run_in_threadpool(show, self.ctx, name, self._period(request))
        except InvalidRequest as error:
            return Response(f"{error}\n", status_code=400, media_type="text/plain")
        return Response(shown.csv, media_type="text/csv; charset=utf-8", headers={
            **_HEADERS, "Content-Disposition": f'attachment; filename="{name}.csv"'})

    def _period(self, request: Request) -> Period:
        params = request.query_params
        zone = ZoneInfo(self.ctx.catalog.timezone)
        today = self.ctx.now().astimezone(zone).date()
        first = _date(params.get("from")) or today - timedelta(days=REPORT_DAYS)
        last = _date(params.get("to")) or today
        if last < first:
            raise InvalidRequest("the period ends before it starts: 'to' is before 'from'")
        return Period(
            since=_midnight(first, zone), until=_midnight(last, zone, days=1),
            by=insights.check_by(params.get("by", "week")),
            metric=params.get("metric", "tta"), group=params.get("group", "priority"),
            zone=zone.key)

    def _form(self, request: Request, period: Period) -> dict[str, Any]:
        zone = ZoneInfo(self.ctx.catalog.timezone)
        values = {"from": period.since.astimezone(zone).date().isoformat(),
                  "to": (period.until.astimezone(zone).date() - timedelta(days=1)).isoformat(),
                  "by": period.by, "metric": period.metric, "group": period.group}
        return {**values, "query": urlencode(values)}

    # rendering ------------------------------------------------------------------------------
    def _html(self, request: Request, name: str, *, status: int = 200, **values: Any) -> Response:
        zone = _zone(self.ctx, request)

        def local(moment: datetime | None, fmt: str = "%a %d %b %Y %H:%M") -> str:
            return moment.astimezone(zone).strftime(fmt) if moment else "—"

        body = _environment().get_template(f"web/{name}.html.j2").render(
            person=_person(request), now=self.ctx.now(), zone=zone.key, local=local,
            display=self.ctx.display, csrf=getattr(request.state, "csrf_token", ""),
            path=request.url.path, **values)
        return HTMLResponse(body, status_code=status, headers=_HEADERS)

    def _missing(self, request: Request, text: str) -> Response:
        return self._html(request, "error", status=404, title="Not found", text=text)

    def _bad(self, request: Request, text: str) -> Response:
        return self._html(request, "error", status=400, title="Cannot show that", text=text)


@lru_cache(maxsize=1)
def _environment() -> SandboxedEnvironment:
    # Its own environment: HTML is escaped (the chat templates are plain text and are not).
    return SandboxedEnvironment(
        loader=PackageLoader("templates", "."), undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html.j2", "html"), default=True),
        trim_blocks=True, lstrip_blocks=True)


def _person(request: Request) -> Person | None:
    return getattr(request.state, "person", None)


def _zone(ctx: Context, request: Request) -> ZoneInfo:
    person = _person(request)
    if person is not None and ctx.knows(person.id):
        return ZoneInfo(ctx.catalog.person_zone(person.id))
    return ZoneInfo(ctx.catalog.timezone)


def _date(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidRequest(f"cannot read the date {text[:20]!r}: write e.g. 2026-03-30") from None


def _start_of(day: date | None, zone: ZoneInfo) -> datetime | None:
    return None if day is None else _midnight(day, zone)


def _midnight(day: date, zone: ZoneInfo, *, days: int = 0) -> datetime:
    """The local midnight that begins `day` (plus `days`), as an aware datetime."""
    return datetime.combine(day + timedelta(days=days), time(), zone)


def _team_name(catalog: Catalog, team: str) -> str:
    try:
        return catalog.team(team).name
    except LookupError:
        return team


def _names(catalog: Catalog) -> dict[str, str]:
    return {p.id: p.name for p in catalog.people}

