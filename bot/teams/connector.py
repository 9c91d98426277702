"""The Bot Connector v3 REST API, outbound: send, update, open a 1:1 chat or a channel thread.

Tokens are Entra client-credential tokens (scope `https://api.botframework.com/.default`) from
`{TEAMS_LOGIN_URL}/{TEAMS_TENANT_ID}/oauth2/v2.0/token`, cached until shortly before they expire.
Firebell sends them only to a service URL an authenticated activity came from (`trusted`, the
conversation references of storage/teams_store.py): never to an address a sender chose.
Failures become `ExternalServiceError`, retryable for timeouts, 429 and 5xx.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx

from bot.teams.entra import AppToken
from workflows.errors import ExternalServiceError

BOT_SCOPE = "https://api.botframework.com/.default"


class BotConnector:
    """A Bot Connector client for one bot registration. Thread-safe."""

    def __init__(
        self, *, app_id: str, app_password: str, tenant_id: str, login_url: str,
        trusted: Callable[[str], bool], http: httpx.Client | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app_id = app_id
        self.trusted = trusted
        self.http = http or httpx.Client(timeout=httpx.Timeout(10.0, connect=5.0))
        self._token = AppToken(login_url=login_url, tenant_id=tenant_id, client_id=app_id,
                               secret=app_password, scope=BOT_SCOPE, http=self.http,
                               clock=monotonic)

    # the four calls -----------------------------------------------------------------
    def send(self, service_url: str, conversation_id: str, activity: dict[str, Any]) -> str:
        """Post `activity` into the conversation; its activity id."""
        answer = self._call("POST", service_url,
                            f"v3/conversations/{_segment(conversation_id)}/activities", activity)
        return str(answer.get("id") or "")

    def update(self, service_url: str, conversation_id: str, activity_id: str,
               activity: dict[str, Any]) -> None:
        """Replace an activity the bot sent (a card after its button was used)."""
        self._call("PUT", service_url, f"v3/conversations/{_segment(conversation_id)}"
                   f"/activities/{_segment(activity_id)}", {**activity, "id": activity_id})

    def create_personal_conversation(self, service_url: str, tenant_id: str, user_id: str) -> str:
        """Open (or find) the bot's 1:1 chat with `user_id`; its conversation id."""
        answer = self._call("POST", service_url, "v3/conversations", {
            "bot": {"id": f"28:{self.app_id}"}, "members": [{"id": user_id}], "isGroup": False,
            "tenantId": tenant_id, "channelData": {"tenant": {"id": tenant_id}},
        })
        return _required(answer, "id")

    def create_channel_thread(self, service_url: str, channel_id: str,
                              activity: dict[str, Any]) -> tuple[str, str]:
        """Start a thread in a channel with `activity`: (the thread's conversation id, the
        activity id of its first message)."""
        answer = self._call("POST", service_url, "v3/conversations", {
            "isGroup": True, "channelData": {"channel": {"id": channel_id}}, "activity": activity,
        })
        return _required(answer, "id"), str(answer.get("activityId") or "")

    # tokens and HTTP ----------------------------------------------------------------
    def token(self) -> str:
        """A Bot Framework access token, fetched once and reused until shortly before expiry."""
        return self._token.get()

    def _call(self, method: str, service_url: str, path: str,
              body: dict[str, Any]) -> dict[str, Any]:
        if not service_url.startswith(("https://", "http://")) or not self.trusted(service_url):
            raise ExternalServiceError(
                f"Teams: no authenticated activity came from {service_url[:200]!r}; "
                "not sending the bot's token there", retryable=False)
        url = f"{service_url.rstrip('/')}/{path}"
        for attempt in (1, 2):
            try:
                response = self.http.request(
                    method, url, json=body, headers={"Authorization": f"Bearer {self.token()}"})
            except httpx.HTTPError as error:
                raise ExternalServiceError(f"Bot Connector {method} {path}: "
                                           f"{type(error).__name__}", retryable=True) from error
            if response.status_code == 401 and attempt == 1:
                self._token.forget()  # revoked or rotated: one fresh token, once
                continue
            break
        _raise_for(response, f"Bot Connector {method} {path}")
        return _json(response, f"Bot Connector {method} {path}") if response.content else {}


def _segment(value: str) -> str:
    """A conversation or activity id as one URL path segment (they hold ':', ';', '@')."""
    return quote(value, safe="")


def _raise_for(response: httpx.Response, what: str) -> None:
    if response.is_success:
        return
    status = response.status_code
    raise ExternalServiceError(f"{what}: HTTP {status} {response.text[:300]}",
                               retryable=status == 429 or status >= 500)


def _json(response: httpx.Response, what: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError as error:
        raise ExternalServiceError(f"{what}: not JSON", retryable=True) from error
    if not isinstance(body, dict):
        raise ExternalServiceError(f"{what}: not a JSON object", retryable=True)
    return body


def _required(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise ExternalServiceError(f"Bot Connector answered without {key!r}", retryable=True)
    return value
