"""The read-only web view served by `firebell serve` at `/`: who is on call and the shifts ahead,
the incidents, and the reports as charts (server-rendered, no JavaScript needed).

`pages.py` has the pages (each a Starlette route reading `request.state.person`, the signed-in
catalog person), `charts.py` draws SVG charts, `auth.py` signs people in (Slack or Entra OpenID
Connect, or a trusted proxy header) and keeps them in a signed cookie; nobody gets in anonymously.
"""

from __future__ import annotations

from starlette.routing import Router
from starlette.types import ASGIApp

from bot.settings import Settings
from bot.web.auth import guard
from bot.web.pages import routes
from workflows.context import Context


def web_app(ctx: Context, settings: Settings) -> ASGIApp:
    """The pages behind sign-in (with the sign-in routes); `bot/server.py` sends it every request
    no other route of `serve` takes, so the webhooks, the JSON API, /healthz, /metrics, the
    calendar feeds and the status page keep their own authentication."""
    pages = Router(routes=routes(ctx, calendar_secret=settings.firebell_calendar_secret))
    return guard(pages, ctx=ctx, settings=settings)
