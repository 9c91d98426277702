"""Microsoft Graph v1.0 on loopback, with its own Entra v2 token endpoint (Graph scope).

Wire format as Microsoft documents it: `POST /{tenant}/oauth2/v2.0/token` (form-encoded client
credentials, scope `https://graph.microsoft.com/.default`), then under `/v1.0` with
`Authorization: Bearer <token>`: channels of a team (create, list with `$filter=displayName eq`,
get, patch), channel and team members (`#microsoft.graph.aadUserConversationMember`), a
channel's messages and a thread's replies (`chatMessage` with `attachments[].content` a JSON
string), a channel's tabs (`teamsTab`: list with `$expand=teamsApp` and
`$filter=teamsApp/id eq`, add with `teamsApp@odata.bind`, patch; the built-in Website tab app),
the organisation's app catalog (`$filter=externalId eq`) and a user's installed apps.
Errors are `{"error": {"code", "message"}}`. `refuse` makes chosen calls answer 403; `busy`
makes them answer 503 (Graph's throttling and outages) that many times first.
"""

from __future__ import annotations

import re
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.slack_helpers import ThreadedServer

TENANT = "11111111-2222-3333-4444-555555555555"
CLIENT_ID = "00000000-0000-0000-0000-00000000f1b3"
CLIENT_SECRET = "test-app-password"
TEAM = "team-0000-group-id"
CATALOG_APP = "catalog-app-7"
MEMBER = "#microsoft.graph.aadUserConversationMember"
WEBSITE_APP = {"id": "com.microsoft.teamspace.tab.web", "externalId": None,
               "displayName": "Website", "distributionMethod": "store"}
_USER_BIND = re.compile(r"/users\('([^']+)'\)$")


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message,
                                   "innerError": {"request-id": str(uuid.uuid4())}}},
                        status_code=status)


@dataclass
class FakeGraph:
    """Graph for one tenant and team; what the bot did is in the lists below."""

    token_lifetime: int = 3599
    refuse: set[str] = field(default_factory=set)  # "create channel", "install", "tabs", ...
    busy: dict[str, int] = field(default_factory=dict)  # "add tab" -> 503s still to answer
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    channel_members: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    team_members: list[str] = field(default_factory=list)
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # channel or thread
    tabs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # channel -> teamsTabs
    installed: dict[str, list[str]] = field(default_factory=dict)  # user -> catalog app ids
    token_requests: list[dict[str, str]] = field(default_factory=list)
    calls: list[tuple[str, str]] = field(default_factory=list)  # (method, path)
    issued: list[str] = field(default_factory=list)
    server: ThreadedServer | None = None

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def start(self) -> FakeGraph:
        app = Starlette(routes=[
            Route("/{tenant}/oauth2/v2.0/token", self._token, methods=["POST"]),
            Route("/v1.0/{path:path}", self._graph, methods=["GET", "POST", "PATCH"]),
        ])
        self.server = ThreadedServer(app).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    @property
    def graph_url(self) -> str:
        return f"{self.url}/v1.0"

    # Entra ---------------------------------------------------------------------------------
    async def _token(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode()))
        with self._lock:
            self.token_requests.append(form)
        if not (request.path_params["tenant"] == TENANT and form.get("client_id") == CLIENT_ID
                and form.get("client_secret") == CLIENT_SECRET
                and form.get("grant_type") == "client_credentials"
                and form.get("scope") == "https://graph.microsoft.com/.default"):
            return JSONResponse({"error": "invalid_client",
                                 "error_description": "AADSTS7000215: Invalid client secret"},
                                status_code=401)
        token = f"graph-token-{uuid.uuid4().hex[:8]}"
        with self._lock:
            self.issued.append(token)
        return JSONResponse({"token_type": "Bearer", "expires_in": self.token_lifetime,
                             "ext_expires_in": self.token_lifetime, "access_token": token})

    # Graph -----------------------------------------------------------------------------------
    async def _graph(self, request: Request) -> Response:
        path, method = "/" + request.path_params["path"], request.method
        with self._lock:
            self.calls.append((method, path))
            known = request.headers.get("authorization", "").removeprefix("Bearer ") in self.issued
        if not known:
            return _error(401, "InvalidAuthenticationToken", "Access token is empty or invalid.")
        body = await request.json() if method in ("POST", "PATCH") else {}
        query = request.query_params
        team = re.fullmatch(r"/teams/([^/]+)(/.*)?", path)
        if team is not None:
            if team.group(1) != TEAM:
                return _error(404, "NotFound", "No team found with Group Id " + team.group(1))
            return self._team(method, team.group(2) or "", body, query)
        if path == "/appCatalogs/teamsApps" and method == "GET":
            wanted = re.fullmatch(r"externalId eq '([^']*)'", query.get("$filter", ""))
            found = wanted is not None and wanted.group(1) == CLIENT_ID
            return JSONResponse({"value": [{"id": CATALOG_APP, "externalId": CLIENT_ID,
                                            "displayName": "Firebell",
                                            "distributionMethod": "organization"}]
                                 if found else []})
        install = re.fullmatch(r"/users/([^/]+)/teamwork/installedApps", path)
        if install is not None and method == "POST":
            return self._install(install.group(1), body)
        return _error(400, "BadRequest", f"Unsupported request: {method} {path}")

    def _team(self, method: str, rest: str, body: dict[str, Any], query: Any) -> Response:
        if rest == "/channels" and method == "POST":
            return self._create_channel(body)
        if rest == "/channels" and method == "GET":
            wanted = re.fullmatch(r"displayName eq '(.*)'", query.get("$filter", ""))
            name = wanted.group(1).replace("''", "'") if wanted else None
            return JSONResponse({"value": [c for c in self.channels.values()
                                           if name is None or c["displayName"] == name]})
        if rest == "/members" and method == "POST":
            user = self._member(body)
            if user is None:
                return _error(400, "BadRequest", "Invalid member")
            if user in self.team_members:
                return _error(409, "Conflict", "The member is already in the team")
            self.team_members.append(user)
            return JSONResponse({"id": f"member-{user}", "roles": []}, status_code=201)
        match = re.fullmatch(r"/channels/([^/]+)(/.*)?", rest)
        if match is None or match.group(1) not in self.channels:
            return _error(404, "NotFound", "Channel not found")
        channel, tail = match.group(1), match.group(2) or ""
        if tail == "" and method == "GET":
            return JSONResponse(self.channels[channel])
        if tail == "" and method == "PATCH":
            if "description" in self.refuse:
                return _error(403, "Forbidden", "Missing role permissions: ChannelSettings.ReadWrite.All")
            self.channels[channel].update({k: v for k, v in body.items() if k == "description"})
            return Response(status_code=204)
        if tail == "/tabs" or tail.startswith("/tabs/"):
            return self._tabs(method, channel, tail.removeprefix("/tabs").strip("/"), body, query)
        if tail == "/members" and method == "POST":
            if self.channels[channel]["membershipType"] == "standard":
                return _error(400, "BadRequest", "Members cannot be added to a standard channel")
            user = self._member(body)
            if user is None:
                return _error(400, "BadRequest", "Invalid member")
            self.channel_members.setdefault(channel, []).append(body)
            return JSONResponse({"id": f"member-{user}", "roles": body.get("roles", [])},
                                status_code=201)
        replies = re.fullmatch(r"/messages/([^/]+)/replies", tail)
        if tail == "/messages" or replies is not None:
            key = channel if replies is None else f"{channel};messageid={replies.group(1)}"
            newest_first = sorted(self.messages.get(key, []),
                                  key=lambda m: m["createdDateTime"], reverse=True)
            return JSONResponse({"value": newest_first})
        return _error(400, "BadRequest", f"Unsupported request: {method} {rest}")

    def _create_channel(self, body: dict[str, Any]) -> Response:
        if "create channel" in self.refuse:
            return _error(403, "Forbidden", "Missing role permissions on the request. API "
                          "requires one of 'Channel.Create, Teamwork.Migrate.All'.")
        name, kind = body.get("displayName") or "", body.get("membershipType", "standard")
        if any(c["displayName"].lower() == name.lower() for c in self.channels.values()):
            return _error(400, "NameAlreadyExists",
                          "Channel name already existed, please use other name.")
        members = body.get("members") or []
        if kind == "private" and not any(
                "owner" in m.get("roles", []) and self._member(m) for m in members):
            return _error(400, "BadRequest", "A private channel needs an owner when created "
                          "with application permissions")
        channel_id = f"19:{uuid.uuid4().hex}@thread.tacv2"
        self.channels[channel_id] = {
            "id": channel_id, "displayName": name, "description": body.get("description"),
            "membershipType": kind, "createdDateTime": "2026-11-24T09:30:00Z",
            "webUrl": f"https://teams.microsoft.com/l/channel/{channel_id}/{name}",
        }
        self.channel_members[channel_id] = list(members)
        return JSONResponse(self.channels[channel_id], status_code=201)

    def _tabs(self, method: str, channel: str, tab_id: str, body: dict[str, Any],
              query: Any) -> Response:
        what = {"GET": "list tabs", "POST": "add tab", "PATCH": "update tab"}[method]
        if "tabs" in self.refuse:
            return _error(403, "Forbidden", "Missing role permissions on the request. API requires "
                          "one of 'TeamsTab.Create, TeamsTab.ReadWriteForTeam.All, "
                          "TeamsTab.ReadWrite.All'.")
        if self.busy.get(what):
            self.busy[what] -= 1
            return _error(503, "ServiceNotAvailable", "The service is temporarily unavailable.")
        tabs = self.tabs.setdefault(channel, [])
        if method == "GET" and not tab_id:
            wanted = re.fullmatch(r"teamsApp/id eq '([^']*)'", query.get("$filter", ""))
            expand = query.get("$expand") == "teamsApp"
            return JSONResponse({"value": [
                {k: v for k, v in tab.items() if k != "teamsApp" or expand} for tab in tabs
                if wanted is None or tab["teamsApp"]["id"] == wanted.group(1)]})
        if method == "POST" and not tab_id:
            bind = str(body.get("teamsApp@odata.bind") or "")
            if not bind.startswith(f"{self.graph_url}/appCatalogs/teamsApps/"):
                return _error(400, "BadRequest", "Invalid teamsApp@odata.bind")
            if bind.rpartition("/")[2] != WEBSITE_APP["id"]:
                return _error(404, "NotFound", "App not found in the catalog")
            configuration = body.get("configuration") or {}
            if not body.get("displayName") or not configuration.get("contentUrl"):
                return _error(400, "BadRequest", "displayName and configuration.contentUrl are "
                              "required")
            tab = {"id": str(uuid.uuid4()), "displayName": body["displayName"],
                   "configuration": configuration, "sortOrderIndex": str(10 + len(tabs)),
                   "teamsApp": dict(WEBSITE_APP),
                   "webUrl": f"https://teams.microsoft.com/l/channel/{channel}/tab"}
            tabs.append(tab)
            return JSONResponse({k: v for k, v in tab.items() if k != "teamsApp"},
                                status_code=201)
        found = next((tab for tab in tabs if tab["id"] == tab_id), None)
        if found is None or "/" in tab_id:
            return _error(404, "NotFound", "Tab not found")
        if method == "PATCH":
            if "teamsApp@odata.bind" in body:
                return _error(400, "BadRequest", "The app of a tab cannot be changed")
            found.update({k: v for k, v in body.items() if k in ("displayName", "configuration")})
            return JSONResponse({k: v for k, v in found.items() if k != "teamsApp"})
        return JSONResponse({k: v for k, v in found.items() if k != "teamsApp"})

    def _install(self, user: str, body: dict[str, Any]) -> Response:
        if "install" in self.refuse:
            return _error(403, "Forbidden", "Missing role permissions: "
                          "TeamsAppInstallation.ReadWriteSelfForUser.All")
        bind = str(body.get("teamsApp@odata.bind") or "")
        if not bind.endswith(f"/appCatalogs/teamsApps/{CATALOG_APP}"):
            return _error(404, "NotFound", "App not found in the catalog")
        if CATALOG_APP in self.installed.get(user, []):
            return _error(409, "Conflict", "App is already installed for this user")
        self.installed.setdefault(user, []).append(CATALOG_APP)
        return Response(status_code=201)

    @staticmethod
    def _member(body: dict[str, Any]) -> str | None:
        if body.get("@odata.type") != MEMBER:
            return None
        found = _USER_BIND.search(str(body.get("user@odata.bind") or ""))
        return found.group(1) if found else None
