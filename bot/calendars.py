"""Calendar feeds and the on-call hours CSV over HTTP.

- `GET /calendars/{schedule}.ics?token=...` — a schedule's shifts (the token is
  `calendar_token(secret, "schedule:<id>")`).
- `GET /calendars/people/{person}.ics?token=...` — one person's shifts on every schedule.
- `GET /api/v1/reports/oncall.csv?from=&to=&schedule=&team=` — hours for compensation (behind
  the JSON API's token).

Feeds exist only with `FIREBELL_CALENDAR_SECRET` set: every URL carries an HMAC made with it, so
calendar apps (which cannot send headers) are authenticated too.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from bot.ical import shifts_calendar
from workflows.catalog.model import Catalog
from workflows.incident import queries
from workflows.oncall.report import oncall_hours
from workflows.oncall.schedules import Shift, shifts
from workflows.ports import FirebellError
from workflows.times import parse_time

if TYPE_CHECKING:
    from bot.host import Host

PAST, AHEAD = timedelta(days=30), timedelta(days=180)
# How far back to look for the real start of a shift the window cuts; a shift running further
# than the last look (a one-person rotation) starts at the schedule's start.
_LOOKBACKS = (timedelta(days=8), timedelta(days=35), timedelta(days=400))
ICS = "text/calendar; charset=utf-8"


def calendar_token(secret: str, subject: str) -> str:
    """The secret part of a feed URL: HMAC-SHA256 of "person:<id>" or "schedule:<id>"."""
    return hmac.new(secret.encode(), subject.encode(), hashlib.sha256).hexdigest()[:32]


def person_feed_url(*, public_url: str, secret: str, person: str) -> str:
    token = calendar_token(secret, f"person:{person}")
    return f"{public_url.rstrip('/')}/calendars/people/{person}.ics?token={token}"


def calendar_routes(firebell: Host) -> list[BaseRoute]:
    secret = firebell.settings.firebell_calendar_secret

    def allowed(request: Request, subject: str) -> bool:
        if secret is None:
            return False
        given = request.query_params.get("token", "")
        return hmac.compare_digest(given.encode(), calendar_token(secret, subject).encode())

    def feed(
        kind: str, render: Callable[[Host, str], bytes]
    ) -> Callable[[Request], Awaitable[Response]]:
        """The endpoint of a `kind` ("schedule", "person") feed; its id is the `{kind}` path part.

        A wrong token and an unknown id get the same 404: the answer does not say which ids exist.
        """

        async def endpoint(request: Request) -> Response:
            subject = request.path_params[kind]
            if not allowed(request, f"{kind}:{subject}"):
                return PlainTextResponse("unknown calendar", status_code=404)
            try:
                body = await run_in_threadpool(render, firebell, subject)
            except LookupError:
                return PlainTextResponse("unknown calendar", status_code=404)
            return Response(body, media_type=ICS)

        return endpoint

    schedule_feed = feed("schedule", _schedule_ics)
    person_feed = feed("person", _person_ics)

    async def report_csv(request: Request) -> Response:
        params = request.query_params
        try:
            now = firebell.ctx.now()
            zone = firebell.ctx.catalog.timezone
            start = parse_time(params["from"], zone=zone) if params.get("from") else now - timedelta(days=30)
            end = parse_time(params["to"], zone=zone) if params.get("to") else now
            query = params.get("schedule") or params.get("team") or params.get("service")
            catalog = firebell.ctx.catalog
            ids = queries.schedules_for(catalog, query)
            body = await run_in_threadpool(_report_csv, catalog, ids, start, end)
        except (FirebellError, LookupError, ValueError) as error:
            return PlainTextResponse(str(error), status_code=400)
        return Response(body, media_type="text/csv; charset=utf-8")

    return [
        Route("/calendars/people/{person}.ics", person_feed, methods=["GET"]),
        Route("/calendars/{schedule}.ics", schedule_feed, methods=["GET"]),
        Route("/api/v1/reports/oncall.csv", report_csv, methods=["GET"]),
    ]


def _window(firebell: Host) -> tuple[datetime, datetime]:
    now = firebell.ctx.now()
    return now - PAST, now + AHEAD


def _whole_shifts(catalog: Catalog, schedule_id: str, start: datetime, end: datetime) -> list[Shift]:
    """The shifts of a schedule that overlap [start, end), the first one with its real start.

    The window moves with every fetch; a shift it cuts would get a new start, and so a new UID,
    each time, and calendar apps would delete and re-create it. Nothing starts before the
    schedule does (its earliest layer start or override), which gives a shift that runs back
    for ever, a one-person rotation, a start that never moves either.
    """
    since = _schedule_start(catalog, schedule_id)
    if since is None:  # no layers, no overrides: nobody is ever on call
        return []
    start = max(start, since)
    found = shifts(catalog, schedule_id=schedule_id, start=start, end=end)
    if not found or found[0].start > start or start == since:
        return found
    cut = found[0]
    for back in (*_LOOKBACKS, None):
        begin = since if back is None else max(start - back, since)
        # The last shift up to the cut one's end is the cut one, whole from `begin` on.
        whole = shifts(catalog, schedule_id=schedule_id, start=begin, end=cut.end)[-1]
        if whole.start > begin or begin == since:
            return [replace(cut, start=whole.start), *found[1:]]
    return found


def _schedule_start(catalog: Catalog, schedule_id: str) -> datetime | None:
    """The earliest first handoff of its layers (the first on or after a layer's `start`, in
    the schedule's zone) or start of its overrides."""
    schedule = catalog.schedule(schedule_id)
    tz = ZoneInfo(catalog.schedule_zone(schedule_id))
    starts = [o.start.astimezone(UTC) for o in schedule.overrides]
    for layer in schedule.all_layers:
        day = layer.start
        if layer.handoff_weekday is not None:
            day += timedelta(days=(layer.handoff_weekday - day.weekday()) % 7)
        local = datetime.combine(day, time()) + timedelta(minutes=layer.handoff_minute)
        starts.append(local.replace(tzinfo=tz).astimezone(UTC))
    return min(starts, default=None)


def _names(catalog: Catalog) -> dict[str, str]:
    return {p.id: p.name for p in catalog.people}


def _schedule_ics(firebell: Host, schedule_id: str) -> bytes:
    catalog = firebell.ctx.catalog
    start, end = _window(firebell)
    found = _whole_shifts(catalog, schedule_id, start, end)
    return shifts_calendar(
        name=f"On call: {schedule_id}", zone=catalog.schedule_zone(schedule_id),
        shifts=[(schedule_id, s) for s in found], names=_names(catalog), stamp=firebell.ctx.now(),
    )  # fmt: skip


def _person_ics(firebell: Host, person: str) -> bytes:
    catalog = firebell.ctx.catalog
    found = catalog.person(person)
    start, end = _window(firebell)
    mine: list[tuple[str, Shift]] = [
        (schedule.id, s)
        for schedule in catalog.schedules
        for s in _whole_shifts(catalog, schedule.id, start, end)
        if s.person == found.id
    ]
    mine.sort(key=lambda item: item[1].start)
    return shifts_calendar(
        name=f"On call: {found.name}", zone=catalog.person_zone(found.id), shifts=mine,
        names=_names(catalog), stamp=firebell.ctx.now(),
    )  # fmt: skip


def _report_csv(catalog: Catalog, ids: list[str], start: datetime, end: datetime) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["schedule", "person", "name", "from", "to", "total_hours", "business_hours",
                     "night_hours", "weekend_hours", "holiday_hours"])  # fmt: skip
    for row in oncall_hours(catalog, schedule_ids=ids, start=start, end=end):
        name = _names(catalog).get(row.person, row.person)
        writer.writerow([
            row.schedule, row.person, name, start.isoformat(), end.isoformat(),
            *(f"{value:.2f}" for value in (row.total, row.business, row.night, row.weekend,
                                           row.holiday)),
        ])  # fmt: skip
    return out.getvalue()
