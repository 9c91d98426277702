"""The app's own Entra tokens: client credentials for one scope (the Bot Framework's, Graph's),
from `{TEAMS_LOGIN_URL}/{TEAMS_TENANT_ID}/oauth2/v2.0/token`, fetched once and reused until
shortly before they expire. One holder per scope; the Bot Connector and Graph clients share it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx

from workflows.errors import ExternalServiceError

RENEW_EARLY_SECONDS = 300  # renew this long before Entra says a token expires


class AppToken:
    """A client-credential token for `scope`. Thread-safe."""

    def __init__(
        self, *, login_url: str, tenant_id: str, client_id: str, secret: str, scope: str,
        http: httpx.Client, clock: Callable[[], float] = time.monotonic,
        refused: Callable[[str, int, str], ExternalServiceError] | None = None,
    ) -> None:
        """`refused(message, status, code)`: the error a refusal raises (Graph's carries its
        status and code); by default an ExternalServiceError, retryable for 429 and 5xx."""
        self.url = f"{login_url.rstrip('/')}/{tenant_id}/oauth2/v2.0/token"
        self._form = {"grant_type": "client_credentials", "client_id": client_id,
                      "client_secret": secret, "scope": scope}
        self._http = http
        self._clock = clock
        self._lock = threading.Lock()
        self._held: tuple[str, float] | None = None  # (access token, renew after)
        self._refused = refused or (lambda message, status, code: ExternalServiceError(
            message, retryable=status == 429 or status >= 500))

    def get(self) -> str:
        """The token, fetched now if there is none or it is about to expire. Raises
        ExternalServiceError, retryable for no answer, 429 and 5xx."""
        with self._lock:
            if self._held is not None and self._clock() < self._held[1]:
                return self._held[0]
            try:
                response = self._http.post(self.url, data=self._form)
            except httpx.HTTPError as error:
                raise ExternalServiceError(f"Entra token endpoint: {type(error).__name__}",
                                           retryable=True) from error
            try:
                body = response.json()
            except ValueError:
                body = None
            token = body.get("access_token") if isinstance(body, dict) else None
            if not response.is_success or not isinstance(token, str) or not token:
                said = body if isinstance(body, dict) else {}
                code = str(said.get("error") or response.status_code)
                words = str(said.get("error_description") or "").split("\r\n")[0][:200]
                message = f"Entra token endpoint refused ({response.status_code} {code}) {words}"
                raise self._refused(message.rstrip(), response.status_code, code)
            lifetime = float(str(body.get("expires_in") or 3600)) if isinstance(body, dict) else 3600
            self._held = (token, self._clock() + max(lifetime - RENEW_EARLY_SECONDS, lifetime / 2))
            return token

    def forget(self) -> None:
        """The token was refused (revoked or rotated early): the next `get` fetches a new one."""
        with self._lock:
            self._held = None
