"""Who is looking at the web view: nobody gets in anonymously, and only people in the catalog.

Three ways in, each turned on by its settings (and FIREBELL_SESSION_SECRET, which signs the
cookies): "Sign in with Slack" and Microsoft Entra (OpenID Connect, bot/web/oidc.py), and a
trusted reverse proxy (oauth2-proxy, an SSO gateway) naming the person in FIREBELL_AUTH_HEADER
on every request. That header is believed as it comes: the proxy must strip it from clients'
requests, and nothing but the proxy may reach Firebell.

`guard(app, ctx=..., settings=...)` wraps the pages: it answers the sign-in routes itself and
lets a request through to `app` only with `request.state.person` set (a catalog `Person`);
anyone else is sent to `/signin`. The session is a signed cookie (HMAC-SHA256, HttpOnly,
SameSite=Lax, Secure under an https PUBLIC_URL) that lasts 12 hours and carries a CSRF token:
every POST (or other unsafe method) must send it back as the form field `csrf_token` (templates
get it from `csrf_token(request)`) or the `X-CSRF-Token` header, else 403.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from html import escape
from typing import Any
from urllib.parse import parse_qs, quote

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.settings import Settings
from bot.web.oidc import Identity, OpenIdProvider, SignInRefused
from workflows.catalog.sections import Person
from workflows.context import Context

log = logging.getLogger(__name__)

SESSION_COOKIE = "firebell_session"
SIGNIN_COOKIE = "firebell_signin"  # state, nonce and where to go, while a provider signs in
SESSION_SECONDS = 12 * 3600
SIGNIN_SECONDS = 10 * 60
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_PUBLIC_PATHS = ("/signin", "/auth/")  # answered before anybody is known


def csrf_token(request: Request) -> str:
    """The token every form of the page must send back in a hidden `csrf_token` field."""
    token: str = request.state.csrf_token
    return token


def guard(app: ASGIApp, *, ctx: Context, settings: Settings) -> ASGIApp:
    """`app` behind sign-in, with the sign-in routes; without a way in configured, every path
    answers 404 with a page saying how to turn the web view on."""
    missing = _missing(settings)
    if missing:
        return _Off(missing)
    assert settings.firebell_session_secret is not None
    signer = _Signer(settings.firebell_session_secret.encode())
    secure = (settings.public_url or "").lower().startswith("https://")
    providers = _providers(settings)
    gate = _Gate(Router(routes=[Route("/signout", _signout(secure=secure), methods=["POST"]),
                                Mount("", app=app)]),
                 ctx=ctx, signer=signer, header=settings.firebell_auth_header,
                 providers=providers, secure=secure)
    signin = _SignIn(ctx=ctx, signer=signer, providers=providers, gate=gate, secure=secure,
                     public_url=settings.public_url)
    return Router(routes=[
        Route("/signin", signin.page, methods=["GET"]),
        Route("/signin/{provider}", signin.start, methods=["GET"]),
        Route("/auth/{provider}/callback", signin.callback, methods=["GET"]),
        Mount("", app=gate),
    ])


# --- configuration ---------------------------------------------------------------------------

def _providers(settings: Settings) -> dict[str, OpenIdProvider]:
    found: dict[str, OpenIdProvider] = {}
    if settings.slack_client_id and settings.slack_client_secret:
        found["slack"] = OpenIdProvider(
            name="slack", label="Slack", issuer_url=settings.slack_oidc_url,
            client_id=settings.slack_client_id, client_secret=settings.slack_client_secret,
            chat_claim="https://slack.com/user_id")
    tenant = settings.entra_tenant_id or settings.teams_tenant_id
    if settings.entra_client_id and settings.entra_client_secret and tenant:
        found["entra"] = OpenIdProvider(
            name="entra", label="Microsoft", chat_claim="oid",
            issuer_url=f"{settings.entra_login_url.rstrip('/')}/{tenant}/v2.0",
            client_id=settings.entra_client_id, client_secret=settings.entra_client_secret)
    return found


def _missing(settings: Settings) -> str | None:
    """Why the web view is off (None: it is on)."""
    ways = bool(settings.firebell_auth_header or _providers(settings))
    if ways and settings.firebell_session_secret:
        return None
    lacks = [] if settings.firebell_session_secret else ["FIREBELL_SESSION_SECRET"]
    if not ways:
        lacks.append("a way to sign in: SLACK_CLIENT_ID and SLACK_CLIENT_SECRET (Sign in with "
                     "Slack), ENTRA_CLIENT_ID, ENTRA_CLIENT_SECRET and ENTRA_TENANT_ID or "
                     "TEAMS_TENANT_ID (Microsoft Entra), or FIREBELL_AUTH_HEADER (a trusted "
                     "reverse proxy)")
    return " and ".join(lacks)


class _Off:
    def __init__(self, missing: str) -> None:
        self.missing = missing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        response = _page("The web view is off", f"<p>Firebell's web view is off: nobody may "
                         f"see it anonymously. To turn it on, set {escape(self.missing)}.</p>",
                         status=404)
        await response(scope, receive, send)


# --- signed cookies --------------------------------------------------------------------------

class _Signer:
    """JSON in a cookie, signed with HMAC-SHA256 under the session secret; `purpose` keeps a
    sign-in cookie from passing as a session. Every payload carries its own expiry."""

    def __init__(self, secret: bytes, *, now: Callable[[], float] = time.time) -> None:
        self.secret, self.now = secret, now

    def sign(self, purpose: str, payload: dict[str, Any], *, seconds: int) -> str:
        data = {**payload, "exp": int(self.now()) + seconds}
        body = base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode())
        return f"{body.decode().rstrip('=')}.{self._mac(purpose, body.rstrip(b'='))}"

    def read(self, purpose: str, value: str | None) -> dict[str, Any] | None:
        """The payload, or None for no cookie, a forged one, or an expired one."""
        if not value or len(value) > 4096 or value.count(".") != 1:
            return None
        body, mac = value.split(".")
        if not hmac.compare_digest(mac, self._mac(purpose, body.encode())):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        except ValueError:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("exp"), int):
            return None
        return data if data["exp"] > self.now() else None

    def _mac(self, purpose: str, body: bytes) -> str:
        return hmac.new(self.secret, purpose.encode() + b":" + body, hashlib.sha256).hexdigest()


def _set_cookie(response: Response, name: str, value: str, *, seconds: int, secure: bool) -> None:
    response.set_cookie(name, value, max_age=seconds, path="/", httponly=True, samesite="lax",
                        secure=secure)


def _clear_cookie(response: Response, name: str, *, secure: bool) -> None:
    response.delete_cookie(name, path="/", httponly=True, samesite="lax", secure=secure)


# --- who is this -------------------------------------------------------------------------------

def _by_reference(ctx: Context, ref: str) -> Person | None:
    """The person a proxy header names: catalog id, email, Slack or Entra id."""
    key = ref.strip()
    if not key:
        return None
    return next((p for p in ctx.catalog.people
                 if key in (p.id, p.slack, p.teams) or (p.email or "").lower() == key.lower()),
                None)


def _by_identity(ctx: Context, provider: str, identity: Identity) -> Person | None:
    """The person a provider signed in: by Slack user id or Entra object id, else by email."""
    people = ctx.catalog.people
    if identity.chat_id:
        found = next((p for p in people
                      if (p.slack if provider == "slack" else p.teams) == identity.chat_id), None)
        if found:
            return found
    email = (identity.email or "").lower()
    return next((p for p in people if email and (p.email or "").lower() == email), None)


class _Gate:
    """Lets a request through only with `request.state.person` set, and an unsafe method only
    with the session's CSRF token."""

    def __init__(self, app: ASGIApp, *, ctx: Context, signer: _Signer, header: str | None,
                 providers: dict[str, OpenIdProvider], secure: bool) -> None:
        self.app, self.ctx, self.signer = app, ctx, signer
        self.header, self.providers, self.secure = header, providers, secure

    def session(self, request: Request) -> tuple[Person | None, dict[str, Any] | None]:
        """The person of a valid session cookie and the session (None, None: none, forged,
        expired, or its person left the catalog)."""
        session = self.signer.read("session", request.cookies.get(SESSION_COOKIE))
        if session is None or session.get("via") == "header" or not isinstance(session.get("p"), str):
            return None, None
        person = next((p for p in self.ctx.catalog.people if p.id == session["p"]), None)
        return (person, session) if person else (None, None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        named = request.headers.get(self.header) if self.header else None
        fresh: str | None = None  # a session cookie to set on the way out
        if named is not None:
            person = _by_reference(self.ctx, named)
            if person is None:
                await _not_in_catalog(f"your sign-in names you {named!r}")(scope, receive, send)
                return
            session = self.signer.read("session", request.cookies.get(SESSION_COOKIE))
            if not session or session.get("p") != person.id or session.get("via") != "header":
                session = {"p": person.id, "via": "header", "csrf": secrets.token_urlsafe(24)}
                fresh = self.signer.sign("session", session, seconds=SESSION_SECONDS)
        elif not self.providers:  # only the proxy may say who this is, and it did not
            await _page("Not signed in", f"<p>Sign-in goes through your organisation's proxy, "
                        f"and this request did not come through it (no "
                        f"{escape(self.header or '')} header).</p>", status=401)(
                scope, receive, send)
            return
        else:
            found, session = self.session(request)
            if found is None or session is None:
                await self._away(request)(scope, receive, send)
                return
            person = found
        state = scope.setdefault("state", {})
        state["person"], state["csrf_token"] = person, session["csrf"]
        if request.method not in _SAFE_METHODS:
            body = await request.body()
            if not _csrf_ok(request, body, str(session["csrf"])):
                await _page("Refused", "<p>This form did not come from a Firebell page you "
                            "opened, or it is too old (CSRF). Reload the page and try again.</p>",
                            status=403)(scope, receive, send)
                return
            receive = _replay(body)
        await self.app(scope, receive, self._with_cookie(send, fresh))

    def _away(self, request: Request) -> Response:
        """To sign-in, forgetting a forged, expired or orphaned cookie."""
        if request.method in ("GET", "HEAD"):
            response: Response = RedirectResponse(
                f"/signin?next={quote(_local(request.url.path, request.url.query), safe='')}",
                status_code=303)
        else:
            response = _page("Not signed in", '<p><a href="/signin">Sign in</a> first.</p>',
                             status=401)
        if SESSION_COOKIE in request.cookies:
            _clear_cookie(response, SESSION_COOKIE, secure=self.secure)
        return response

    def _with_cookie(self, send: Send, cookie: str | None) -> Send:
        if cookie is None:
            return send
        carrier = Response()
        _set_cookie(carrier, SESSION_COOKIE, cookie, seconds=SESSION_SECONDS, secure=self.secure)
        set_cookie = carrier.headers["set-cookie"]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append("set-cookie", set_cookie)
            await send(message)
        return sending


def _csrf_ok(request: Request, body: bytes, expected: str) -> bool:
    given = request.headers.get(CSRF_HEADER)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if given is None and content_type == "application/x-www-form-urlencoded":
        given = next(iter(parse_qs(body.decode("latin-1")).get(CSRF_FIELD, [])), None)
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}
    return receive


def _signout(*, secure: bool) -> Callable[[Request], Awaitable[Response]]:
    async def signout(request: Request) -> Response:
        """Forgets the session (the gate has checked the CSRF token)."""
        response = RedirectResponse("/signin?signed_out=1", status_code=303)
        _clear_cookie(response, SESSION_COOKIE, secure=secure)
        return response
    return signout


# --- signing in ------------------------------------------------------------------------------

@dataclass
class _SignIn:
    ctx: Context
    signer: _Signer
    providers: dict[str, OpenIdProvider]
    gate: _Gate
    secure: bool
    public_url: str | None

    async def page(self, request: Request) -> Response:
        goto = _local(request.query_params.get("next") or "/")
        person, _ = self.gate.session(request)
        named = request.headers.get(self.gate.header) if self.gate.header else None
        if person is not None or (named is not None and _by_reference(self.ctx, named)):
            return RedirectResponse(goto, status_code=303)
        links = "".join(
            f'<p><a class="button" href="/signin/{name}?next={quote(goto, safe="")}">'
            f"Sign in with {escape(provider.label)}</a></p>"
            for name, provider in self.providers.items())
        if self.gate.header:
            links += (f"<p>Or through your organisation's sign-in proxy (it names you in "
                      f"{escape(self.gate.header)}).</p>")
        said = "<p>You are signed out.</p>" if request.query_params.get("signed_out") else ""
        return _page("Sign in to Firebell", said + links, status=200)

    async def start(self, request: Request) -> Response:
        provider = self.providers.get(request.path_params["provider"])
        if provider is None:
            return _page("Not found", "<p>No such way to sign in.</p>", status=404)
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        try:
            url = await run_in_threadpool(provider.authorize_url, state=state, nonce=nonce,
                                          redirect_uri=self._callback(request, provider))
        except SignInRefused as error:
            return _page("Sign-in unavailable", f"<p>{escape(str(error))}.</p>", status=502)
        response = RedirectResponse(url, status_code=303)
        pending = {"via": provider.name, "state": state, "nonce": nonce,
                   "next": _local(request.query_params.get("next") or "/")}
        _set_cookie(response, SIGNIN_COOKIE, self.signer.sign("signin", pending,
                    seconds=SIGNIN_SECONDS), seconds=SIGNIN_SECONDS, secure=self.secure)
        return response

    async def callback(self, request: Request) -> Response:
        provider = self.providers.get(request.path_params["provider"])
        if provider is None:
            return _page("Not found", "<p>No such way to sign in.</p>", status=404)
        params = request.query_params
        pending = self.signer.read("signin", request.cookies.get(SIGNIN_COOKIE))
        state = params.get("state") or ""
        if (pending is None or pending.get("via") != provider.name
                or not hmac.compare_digest(state.encode(), str(pending.get("state")).encode())):
            return self._refused("This sign-in was not started from this browser, or it took "
                                 "longer than 10 minutes (state). Start again.", status=400)
        if params.get("error") or not params.get("code"):
            said = params.get("error") or "no code"
            return self._refused(f"{provider.label} did not sign you in ({said}).", status=403)
        try:
            identity = await run_in_threadpool(
                provider.identity, code=params["code"], nonce=str(pending["nonce"]),
                redirect_uri=self._callback(request, provider))
        except SignInRefused as error:
            log.warning("web sign-in with %s refused: %s", provider.label, error)
            return self._refused(f"{error}.", status=403)
        person = _by_identity(self.ctx, provider.name, identity)
        if person is None:
            who = ", ".join(filter(None, [identity.name, identity.chat_id, identity.email]))
            response = _not_in_catalog(f"{provider.label} says you are {who or identity.subject}")
            _clear_cookie(response, SIGNIN_COOKIE, secure=self.secure)
            return response
        log.info("web sign-in: %s with %s", person.id, provider.label)
        response = RedirectResponse(_local(str(pending.get("next") or "/")), status_code=303)
        session = {"p": person.id, "via": provider.name, "csrf": secrets.token_urlsafe(24)}
        _set_cookie(response, SESSION_COOKIE, self.signer.sign(
            "session", session, seconds=SESSION_SECONDS), seconds=SESSION_SECONDS,
            secure=self.secure)
        _clear_cookie(response, SIGNIN_COOKIE, secure=self.secure)
        return response

    def _refused(self, why: str, *, status: int) -> Response:
        response = _page("Sign-in refused", f'<p>{escape(why)}</p><p><a href="/signin">Sign in'
                         "</a></p>", status=status)
        _clear_cookie(response, SIGNIN_COOKIE, secure=self.secure)
        return response

    def _callback(self, request: Request, provider: OpenIdProvider) -> str:
        base = (self.public_url or str(request.base_url)).rstrip("/")
        return f"{base}/auth/{provider.name}/callback"


def _local(path: str, query: str = "") -> str:
    """A path on this site to go to after sign-in; anything else (another host) is `/`."""
    target = f"{path}?{query}" if query else path
    if (not target.startswith("/") or target.startswith(("//", "/\\")) or len(target) > 2000
            or any(ord(c) < 0x20 for c in target)):
        return "/"
    return target


def _not_in_catalog(who: str) -> Response:
    return _page("Not in the catalog", f"<p>{escape(who)}, but nobody in Firebell's catalog "
                 "has that identity, so the web view is closed to you. Ask whoever keeps the "
                 "catalog to add you (people: slack, teams or email).</p>", status=403)


def _page(title: str, body: str, *, status: int) -> HTMLResponse:
    """A small page of its own: the sign-in pages stand apart from the signed-in layout."""
    return HTMLResponse(
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} · Firebell</title><style>body{{font-family:system-ui,"
        f"sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;line-height:1.5}}"
        f"a.button{{display:inline-block;padding:.6rem 1rem;border:1px solid #444;"
        f"border-radius:.4rem;text-decoration:none}}</style></head><body>"
        f"<h1>{escape(title)}</h1>{body}</body></html>",
        status_code=status, headers={"Cache-Control": "no-store"})
