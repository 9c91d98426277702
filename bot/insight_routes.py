"""The insight API (bearer FIREBELL_API_TOKEN, like all of `/api/v1/`):

- `GET /api/v1/incidents?state=open|all&team=&service=&priority=&since=&until=&limit=&cursor=`
  newest first, a page at a time (`next_cursor`, absent on the last page); without parameters:
  the open incidents, as before.
- `GET /api/v1/incidents/{id}`: one incident with its timeline, roles, pages, alerts, tickets.
- `GET /api/v1/insights/{response-times|frequency|repeats|pages-per-night}?since=&until=&by=`
- `GET /api/v1/openapi.json`: the OpenAPI 3.1 document of every `/api/v1/` route.

A bad parameter is a 400 naming it; the numbers are workflows/insights.py's, as on the CLI.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.incident_ids import database_id
from bot.openapi import document
from workflows import insights
from workflows.errors import FirebellError, NotFound
from workflows.insight_model import IncidentQuery
from workflows.model import Incident
from workflows.times import parse_time

if TYPE_CHECKING:
    from bot.host import Host

DEFAULT_DAYS = 90
_INSIGHTS: dict[str, Callable[..., list[Any]]] = {
    "response-times": insights.response_times,
    "frequency": insights.frequency,
    "repeats": insights.repeat_causes,
    "pages-per-night": insights.pages_per_night,
}
_BY = {"response-times", "frequency"}  # the ones grouped by week or month


class BadParameter(FirebellError):
    pass


def insight_routes(firebell: Host) -> list[BaseRoute]:
    ctx = firebell.ctx

    def period(request: Request) -> tuple[datetime, datetime]:
        params, zone = request.query_params, ctx.catalog.timezone
        until = _time(params, "until", zone) or ctx.now()
        since = _time(params, "since", zone) or until - timedelta(days=DEFAULT_DAYS)
        if since >= until:
            raise BadParameter(f"since ({since.isoformat()}) must be before until "
                               f"({until.isoformat()})")
        return since, until

    async def incidents(request: Request) -> Response:
        params = request.query_params
        try:
            _only(params, {"state", "team", "service", "priority", "since", "until", "limit",
                           "cursor"})
            zone = ctx.catalog.timezone
            query = IncidentQuery(
                state=params.get("state", "open"), team=params.get("team") or None,
                service=params.get("service") or None, priority=params.get("priority") or None,
                since=_time(params, "since", zone), until=_time(params, "until", zone),
                limit=_int(params, "limit", 50), before_id=insights.parse_cursor(params.get("cursor")),
            )
            page = await run_in_threadpool(insights.find_incidents, ctx, query)
        except FirebellError as error:
            return _bad(error)
        body: dict[str, Any] = {"incidents": [incident_json(i) for i in page.incidents]}
        if page.next_cursor is not None:  # the last page answers as this route always did
            body["next_cursor"] = page.next_cursor
        return JSONResponse(body)

    async def incident(request: Request) -> Response:
        number = database_id(request.path_params["incident"])
        if number is None:
            return JSONResponse({"error": f"there is no incident {request.path_params['incident'][:40]}"},
                                status_code=404)
        try:
            detail = await run_in_threadpool(
                lambda: insights.incident_detail(ctx, incident_id=number))
        except NotFound as error:
            return JSONResponse({"error": str(error)}, status_code=404)
        return JSONResponse(detail_json(firebell, detail))

    async def insight(request: Request) -> Response:
        kind = request.path_params["kind"]
        if kind not in _INSIGHTS:
            return JSONResponse({"error": f"unknown insight '{kind}': use one of "
                                          f"{', '.join(_INSIGHTS)}"}, status_code=404)
        try:
            _only(request.query_params, {"since", "until", "by"})
            since, until = period(request)
            options: dict[str, Any] = {"since": since, "until": until}
            if kind in _BY:
                options["by"] = insights.check_by(request.query_params.get("by", "week"))
            elif "by" in request.query_params:
                raise BadParameter(f"by: {kind} is not grouped by week or month")
            rows = await run_in_threadpool(lambda: _INSIGHTS[kind](ctx, **options))
        except FirebellError as error:
            return _bad(error)
        return JSONResponse({"since": since.isoformat(), "until": until.isoformat(),
                             **({"by": options["by"]} if "by" in options else {}),
                             "zone": ctx.catalog.timezone, "rows": insights.rows_json(rows)})

    async def openapi(request: Request) -> Response:
        return JSONResponse(document())

    return [
        Route("/api/v1/incidents", incidents, methods=["GET"]),
        Route("/api/v1/incidents/{incident}", incident, methods=["GET"]),
        Route("/api/v1/insights/{kind}", insight, methods=["GET"]),
        Route("/api/v1/openapi.json", openapi, methods=["GET"]),
    ]


def incident_json(incident: Incident) -> dict[str, Any]:
    return {
        "id": incident.id, "ref": incident.ref, "title": incident.title,
        "service": incident.service, "team": incident.team, "priority": incident.priority,
        "severity": incident.severity, "urgency": incident.urgency,
        "environment": incident.environment, "state": incident.state.value,
        "stage": incident.stage.value, "channel": incident.channel, "drill": incident.drill,
        "roles": incident.roles, "declared_at": _iso(incident.declared_at),
        "declared_by": incident.declared_by,
        "acknowledged_at": _iso(incident.acknowledged_at),
        "acknowledged_by": incident.acknowledged_by,
        "mitigated_at": _iso(incident.mitigated_at), "resolved_at": _iso(incident.resolved_at),
        "closed_at": _iso(incident.closed_at), "ticket": incident.ticket,
    }


def detail_json(firebell: Host, detail: insights.IncidentDetail) -> dict[str, Any]:
    postmortem = detail.postmortem
    return {
        **incident_json(detail.incident),
        "description": detail.incident.description,
        "timeline": [{"at": _iso(e.at), "kind": e.kind, "text": e.text, "actor": e.actor}
                     for e in detail.events],
        "pages": [{"person": p.person, "channel": p.channel, "status": p.status.value,
                   "step": p.step, "round": p.round, "created_at": _iso(p.created_at),
                   "sent_at": _iso(p.sent_at)} for p in detail.pages],
        "alerts": [{"source": a.source, "dedup_key": a.dedup_key, "rule": a.rule,
                    "summary": a.summary, "status": a.status.value, "first_seen": _iso(a.first_seen),
                    "starts_at": _iso(a.starts_at), "resolved_at": _iso(a.resolved_at)}
                   for a in detail.alerts],
        "tickets": detail.tickets,
        "postmortem": None if postmortem is None else {
            "state": postmortem.state.value, "cause": postmortem.cause,
            "due_at": _iso(postmortem.due_at), "published_at": _iso(postmortem.published_at)},
        "action_items": [{"ref": a.ref, "title": a.title, "owner": a.owner, "state": a.state.value,
                          "due_on": a.due_on.isoformat(), "ticket": a.ticket}
                         for a in detail.actions],
    }


def _only(params: Any, known: set[str]) -> None:
    unknown = sorted(set(params) - known)
    if unknown:
        raise BadParameter(f"unknown parameter {unknown[0]}: use {', '.join(sorted(known))}")


def _time(params: Any, name: str, zone: str) -> datetime | None:
    text = params.get(name)
    if not text:
        return None
    try:
        return parse_time(text, zone=zone, what=name)
    except FirebellError as error:
        raise BadParameter(f"{name}: {error}") from None


def _int(params: Any, name: str, default: int) -> int:
    text = params.get(name)
    if text is None:
        return default
    if not text.isdigit():
        raise BadParameter(f"{name} must be a whole number, not '{text}'")
    return int(text)


def _bad(error: FirebellError) -> Response:
    return JSONResponse({"error": str(error)}, status_code=400)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
