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
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from adapters.ical import shifts_calendar
from workflows import queries
from workflows.catalog import Catalog
from workflows.oncall import Shift, shifts
from workflows.oncall_report import oncall_hours
from workflows.ports import FirebellError

if TYPE_CHECKING:
    from app import Firebell

PAST, AHEAD = timedelta(days=30), timedelta(days=180)
ICS = "text/calendar; charset=utf-8"


def calendar_token(secret: str, subject: str) -> str:
    """The secret part of a feed URL: HMAC-SHA256 of "person:<id>" or "schedule:<id>"."""
    return hmac.new(secret.encode(), subject.encode(), hashlib.sha256).hexdigest()[:32]


def person_feed_url(*, public_url: str, secret: str, person: str) -> str:
    token = calendar_token(secret, f"person:{person}")
    return f"{public_url.rstrip('/')}/calendars/people/{person}.ics?token={token}"


def calendar_routes(firebell: Firebell) -> list[BaseRoute]:
    secret = firebell.settings.firebell_calendar_secret

    def allowed(request: Request, subject: str) -> bool:
        if secret is None:
            return False
        given = request.query_params.get("token", "")
        return hmac.compare_digest(given.encode(), calendar_token(secret, subject).encode())

    def feed(
        kind: str, render: Callable[[Firebell, str], bytes]
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
            start = _time(params.get("from")) or now - timedelta(days=30)
            end = _time(params.get("to")) or now
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


def _window(firebell: Firebell) -> tuple[datetime, datetime]:
    now = firebell.ctx.now()
    return now - PAST, now + AHEAD


def _names(catalog: Catalog) -> dict[str, str]:
    return {p.id: p.name for p in catalog.people}


def _schedule_ics(firebell: Firebell, schedule_id: str) -> bytes:
    catalog = firebell.ctx.catalog
    start, end = _window(firebell)
    found = shifts(catalog, schedule_id=schedule_id, start=start, end=end)
    return shifts_calendar(
        name=f"On call: {schedule_id}", zone=catalog.schedule_zone(schedule_id),
        shifts=[(schedule_id, s) for s in found], names=_names(catalog), stamp=firebell.ctx.now(),
    )  # fmt: skip


def _person_ics(firebell: Firebell, person: str) -> bytes:
    catalog = firebell.ctx.catalog
    found = catalog.person(person)
    start, end = _window(firebell)
    mine: list[tuple[str, Shift]] = [
        (schedule.id, s)
        for schedule in catalog.schedules
        for s in shifts(catalog, schedule_id=schedule.id, start=start, end=end)
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


def _time(text: str | None) -> datetime | None:
    if not text:
        return None
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)
