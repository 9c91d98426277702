"""Microsoft Graph v1.0, the few calls Teams incidents need: channels in `TEAMS_TEAM_ID`, their
members, descriptions and website tabs (the bridge), the channel's messages (to find a post
again), and installing the app for a person so the bot can write to them.

The app's own token (client credentials, scope `https://graph.microsoft.com/.default`) comes
from `{TEAMS_LOGIN_URL}/{TEAMS_TENANT_ID}/oauth2/v2.0/token` and is kept until shortly before it
expires. Every failure is an `ExternalServiceError`: retryable for 429, 5xx and no answer at all;
not retryable when Graph refused (a missing permission, a bad id), with Graph's code and words.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from bot.teams.entra import AppToken
from workflows.ports import ExternalServiceError

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
MEMBER_TYPE = "#microsoft.graph.aadUserConversationMember"
WEBSITE_TAB_APP = "com.microsoft.teamspace.tab.web"  # Teams' built-in Website tab
_MAX_PAGES = 20  # of a listing (50 messages a page): far more than any lookup needs


class GraphError(ExternalServiceError):
    """Graph answered with an error: its HTTP status and Graph's error code."""

    def __init__(self, message: str, *, status: int, code: str) -> None:
        super().__init__(message, retryable=status == 429 or status >= 500)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class GraphChannel:
    id: str
    name: str
    private: bool
    web_url: str | None = None


class Graph:
    """A Microsoft Graph client for one tenant and one team."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        tenant_id: str,
        team_id: str,
        login_url: str = "https://login.microsoftonline.com",
        graph_url: str = "https://graph.microsoft.com/v1.0",
        timeout: float = 15.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client_id = client_id
        self.tenant_id = tenant_id
        self.team_id = team_id
        self.graph_url = graph_url.rstrip("/")
        self._http = httpx.Client(timeout=timeout)
        self._token = AppToken(login_url=login_url, tenant_id=tenant_id, client_id=client_id,
                               secret=client_secret, scope=GRAPH_SCOPE, http=self._http,
                               clock=clock, refused=lambda message, status, code: GraphError(
                                   message, status=status, code=code))
        self._catalog_ids: dict[str, str] = {}

    def close(self) -> None:
        self._http.close()

    def token(self) -> str:
        """The app's Graph token, fetched once and reused until shortly before it expires."""
        return self._token.get()

    # calls ----------------------------------------------------------------------------------
    def _call(self, method: str, path: str, what: str, *, json: Any = None,
              ok: tuple[int, ...] = ()) -> dict[str, Any]:
        url = path if path.startswith("http") else f"{self.graph_url}{path}"
        for attempt in (1, 2):
            headers = {"Authorization": f"Bearer {self.token()}"}
            try:
                response = self._http.request(method, url, json=json, headers=headers)
            except httpx.HTTPError as error:
                raise ExternalServiceError(f"Graph {what} failed: {error}",
                                           retryable=True) from error
            if response.status_code == 401 and attempt == 1:
                self._token.forget()  # revoked or rotated early: one fresh token, then give up
                continue
            if response.is_success or response.status_code in ok:
                return _json(response)
            said = _json(response).get("error") or {}
            code = str(said.get("code") or response.status_code)
            message = str(said.get("message") or response.reason_phrase)[:300]
            raise GraphError(f"Graph {what} failed ({response.status_code} {code}): {message}",
                             status=response.status_code, code=code)
        raise AssertionError("unreachable")

    def _team(self) -> str:
        return f"/teams/{quote(self.team_id, safe='')}"

    def _channel(self, channel_id: str) -> str:
        return f"{self._team()}/channels/{quote(channel_id, safe='')}"

    def _user(self, user_id: str) -> str:
        return f"{self.graph_url}/users('{quote(user_id, safe='')}')"

    def _member(self, user_id: str, *, owner: bool = False) -> dict[str, Any]:
        return {"@odata.type": MEMBER_TYPE, "user@odata.bind": self._user(user_id),
                "roles": ["owner"] if owner else []}

    # channels -------------------------------------------------------------------------------
    def create_channel(
        self, *, name: str, description: str = "", private: bool, owner: str | None = None
    ) -> GraphChannel:
        """A channel in the team; a private one needs an `owner` (an Entra user id), because an
        app token has no user to make its owner."""
        body: dict[str, Any] = {"displayName": name, "description": description,
                                "membershipType": "private" if private else "standard"}
        if private:
            if not owner:
                raise ExternalServiceError(
                    "a private Teams channel needs an owner, and no one on this incident has a "
                    "Teams id in the catalog", retryable=False)
            body["members"] = [self._member(owner, owner=True)]
        found = self._call("POST", f"{self._team()}/channels", "create channel", json=body)
        return _channel_of(found)

    def channel(self, channel_id: str) -> GraphChannel:
        return _channel_of(self._call("GET", self._channel(channel_id), "get channel"))

    def find_channel(self, name: str) -> GraphChannel | None:
        escaped = name.replace("'", "''")
        path = f"{self._team()}/channels?$filter=displayName eq '{escaped}'"
        for channel in self._call("GET", path, "list channels").get("value") or []:
            if channel.get("displayName") == name:
                return _channel_of(channel)
        return None

    def update_description(self, channel_id: str, description: str) -> None:
        self._call("PATCH", self._channel(channel_id), "update channel",
                   json={"description": description})

    # website tabs ---------------------------------------------------------------------------
    def website_tabs(self, channel_id: str) -> list[dict[str, Any]]:
        """The channel's Website tabs (`teamsTab` resources, with their `teamsApp`)."""
        path = (f"{self._channel(channel_id)}/tabs?$expand=teamsApp"
                f"&$filter=teamsApp/id eq '{WEBSITE_TAB_APP}'")
        return list(self._call("GET", path, "list channel tabs").get("value") or [])

    def add_website_tab(self, channel_id: str, *, name: str, url: str) -> None:
        """Pin a Website tab called `name` that opens `url`."""
        body = {"displayName": name,
                "teamsApp@odata.bind": f"{self.graph_url}/appCatalogs/teamsApps/{WEBSITE_TAB_APP}",
                "configuration": _website(url)}
        self._call("POST", f"{self._channel(channel_id)}/tabs", "add channel tab", json=body)

    def point_website_tab(self, channel_id: str, tab_id: str, *, url: str) -> None:
        """The Website tab `tab_id` opens `url` from now on."""
        self._call("PATCH", f"{self._channel(channel_id)}/tabs/{quote(tab_id, safe='')}",
                   "update channel tab", json={"configuration": _website(url)})

    def add_channel_member(self, channel_id: str, user_id: str) -> None:
        """Add a person to a private channel (already a member: nothing to do)."""
        self._call("POST", f"{self._channel(channel_id)}/members", "add channel member",
                   json=self._member(user_id), ok=(409,))

    def add_team_member(self, user_id: str) -> None:
        """Add a person to the team, which opens its standard channels to them."""
        self._call("POST", f"{self._team()}/members", "add team member",
                   json=self._member(user_id), ok=(409,))

    def channel_messages(self, channel_id: str, *, thread: str | None = None
                         ) -> Iterator[dict[str, Any]]:
        """The channel's messages (or one thread's replies), newest first, page by page."""
        path = f"{self._channel(channel_id)}/messages"
        if thread:
            path += f"/{quote(thread, safe='')}/replies"
        url: str | None = f"{path}?$top=50"
        for _ in range(_MAX_PAGES):
            if url is None:
                return
            page = self._call("GET", url, "list channel messages")
            yield from page.get("value") or []
            url = page.get("@odata.nextLink")

    # the app for a person ---------------------------------------------------------------------
    def install_for_user(self, *, user_id: str, app_id: str) -> None:
        """Install the Teams app whose manifest id is `app_id` for a person (installed already:
        nothing to do), so the bot may start a 1:1 chat with them."""
        catalog_id = self._catalog_id(app_id)
        bind = f"{self.graph_url}/appCatalogs/teamsApps/{catalog_id}"
        self._call("POST", f"/users/{quote(user_id, safe='')}/teamwork/installedApps",
                   "install app for user", json={"teamsApp@odata.bind": bind}, ok=(409,))

    def _catalog_id(self, app_id: str) -> str:
        """The organisation catalog's id of the app with manifest id `app_id`."""
        if app_id not in self._catalog_ids:
            path = f"/appCatalogs/teamsApps?$filter=externalId eq '{app_id.replace(chr(39), '')}'"
            apps = self._call("GET", path, "find app in catalog").get("value") or []
            if not apps:
                raise ExternalServiceError(
                    f"the Firebell Teams app ({app_id}) is not in your organisation's app catalog:"
                    " upload the package (`firebell teams package`) in the Teams admin center",
                    retryable=False)
            self._catalog_ids[app_id] = str(apps[0]["id"])
        return self._catalog_ids[app_id]


def _channel_of(raw: dict[str, Any]) -> GraphChannel:
    return GraphChannel(id=str(raw["id"]), name=str(raw.get("displayName") or ""),
                        private=raw.get("membershipType") == "private",
                        web_url=raw.get("webUrl"))


def _website(url: str) -> dict[str, Any]:
    """A Website tab's configuration, as Graph documents it: the page in Teams and outside."""
    return {"entityId": None, "contentUrl": url, "websiteUrl": url, "removeUrl": None}


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
