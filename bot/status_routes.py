"""The public status page: `GET /status` (HTML, or JSON when asked with `Accept:
application/json`) and `GET /status.json`. No token: it is for customers. What it may show is
decided in `workflows.status_page`; this only renders it."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from workflows.render import templates_loader
from workflows.status_page import PublicIncident, StatusPage, status_page

if TYPE_CHECKING:
    from bot.host import Host

# Each answer is read fresh; a proxy in front may keep it this long.
_HEADERS = {"Cache-Control": "public, max-age=15"}


def status_routes(firebell: Host) -> list[BaseRoute]:
    async def page(request: Request) -> Response:
        found = await run_in_threadpool(status_page, firebell.ctx)
        if "application/json" in request.headers.get("accept", ""):
            return JSONResponse(status_json(found), headers=_HEADERS)
        return HTMLResponse(status_html(found), headers=_HEADERS)

    async def page_json(request: Request) -> Response:
        found = await run_in_threadpool(status_page, firebell.ctx)
        return JSONResponse(status_json(found), headers=_HEADERS)

    return [Route("/status", page, methods=["GET"]),
            Route("/status.json", page_json, methods=["GET"])]


def status_json(page: StatusPage) -> dict[str, Any]:
    return {
        "title": page.title, "updated_at": page.at.isoformat(), "status": page.status,
        "components": [{"id": c.id, "name": c.name, "status": c.status, "impact": c.impact}
                       for c in page.components],
        "incidents": [_incident_json(i) for i in page.incidents],
        "history_days": page.history_days,
        "history": [_incident_json(i) for i in page.history],
    }


def _incident_json(incident: PublicIncident) -> dict[str, Any]:
    return {
        "id": incident.ref, "title": incident.title, "component": incident.service,
        "status": "resolved" if incident.resolved_at else incident.status,
        "impact": incident.impact, "started_at": incident.started_at.isoformat(),
        "resolved_at": incident.resolved_at.isoformat() if incident.resolved_at else None,
        "updates": [{"stage": u.stage, "text": u.text, "at": u.at.isoformat()}
                    for u in reversed(incident.updates)],  # newest first, as status pages read
    }


def status_html(page: StatusPage) -> str:
    return _html("status_page.html", page=page)


def _utc(value: datetime | None) -> str:
    return value.strftime("%d %b %Y, %H:%M UTC") if value else ""


@lru_cache(maxsize=1)
def _environment() -> SandboxedEnvironment:
    # Its own environment: HTML is escaped (the chat templates are plain text and are not).
    env = SandboxedEnvironment(loader=templates_loader(), autoescape=True,
                               undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["utc"] = _utc
    return env


def _html(name: str, **values: Any) -> str:
    return _environment().get_template(f"{name}.j2").render(**values)
