"""Markdown export of postmortems: `GET /api/v1/incidents/{id}/postmortem` and
`firebell postmortem <id>`."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from bot.incident_ids import incident_number
from workflows.context import Context
from workflows.followup.postmortem import markdown
from workflows.ports import FirebellError, InvalidRequest, NotFound

if TYPE_CHECKING:
    from bot.host import Host

MARKDOWN = "text/markdown; charset=utf-8"


def postmortem_routes(firebell: Host) -> list[BaseRoute]:
    async def postmortem(request: Request) -> Response:
        try:
            number = incident_number(request.path_params["incident"])
        except InvalidRequest as error:  # a number past any incident's
            return JSONResponse({"error": str(error)}, status_code=404)
        if number is None:
            return JSONResponse({"error": "an incident is 12, #12 or INC-12"}, status_code=400)
        try:
            text = await run_in_threadpool(markdown, firebell.ctx, incident_id=number)
        except NotFound as error:
            return JSONResponse({"error": str(error)}, status_code=404)
        except FirebellError as error:  # a broken team template, a store without follow-ups
            return JSONResponse({"error": str(error)}, status_code=422)
        return PlainTextResponse(text + "\n", media_type=MARKDOWN)

    return [Route("/api/v1/incidents/{incident}/postmortem", postmortem, methods=["GET"])]


def print_postmortem(ctx: Context, incident: str) -> int:
    """`firebell postmortem <id>`: the stored draft (or a fresh one) on stdout."""
    try:
        number = incident_number(incident)
    except InvalidRequest as error:
        print(error, file=sys.stderr)
        return 1
    if number is None:
        print(f"not an incident: {incident!r} (write 12, #12 or INC-12)", file=sys.stderr)
        return 2
    try:
        print(markdown(ctx, incident_id=number))
    except FirebellError as error:
        print(error, file=sys.stderr)
        return 1
    return 0
