"""Microsoft on loopback: the Entra v2 token endpoint, the Bot Framework OpenID metadata and its
JWKS (a test RSA key), and the Bot Connector v3 REST API recording what the bot sends.

Wire formats as Microsoft documents them: `POST /{tenant}/oauth2/v2.0/token` (form-encoded
client credentials -> `{token_type, expires_in, access_token}`), the OpenID configuration
(`jwks_uri`), a JWKS whose keys carry `endorsements`, and `v3/conversations[/{id}/activities]`.
The connector lives under `/connector` (its `serviceUrl`); `/elsewhere` records what would reach
an address a sender made up.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.paths import DEMO_CATALOG
from tests.support.slack_helpers import ThreadedServer

APP_ID = "00000000-0000-0000-0000-00000000f1b3"
APP_PASSWORD = "test-app-password"
TENANT = "11111111-2222-3333-4444-555555555555"
ISSUER = "https://api.botframework.com"
ALICE = "aad-alice-0000-0000-0000-000000000001"  # Entra object ids
STRANGER = "aad-stranger-0000-0000-000000000009"
KEY_ID = "firebell-test-key"


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


SIGNING_KEY = rsa_key()


def teams_catalog(tmp_path: Path) -> Path:
    """The demo catalog with Alice's Teams identity."""
    text = DEMO_CATALOG.read_text().replace("slack: U0ALICE,", f"slack: U0ALICE, teams: {ALICE},")
    path = tmp_path / "teams.yaml"
    path.write_text(text)
    return path


def bot_token(service_url: str, *, key: rsa.RSAPrivateKey = SIGNING_KEY, kid: str = KEY_ID,
              **claims: Any) -> str:
    """A Bot Framework token as the connector service signs it; `claims` override or (None)
    remove the defaults."""
    now = int(time.time())
    body: dict[str, Any] = {"iss": ISSUER, "aud": APP_ID, "serviceurl": service_url,
                            "nbf": now - 60, "iat": now - 60, "exp": now + 3600}
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not None}
    return jwt.encode(body, key, algorithm="RS256", headers={"kid": kid})


@dataclass
class Sent:
    method: str
    service: str  # "connector" or "elsewhere"
    path: str  # after v3/
    body: dict[str, Any]
    authorization: str


@dataclass
class FakeMicrosoft:
    """Entra + OpenID metadata + JWKS + Bot Connector, on one loopback server."""

    token_lifetime: int = 3599
    sent: list[Sent] = field(default_factory=list)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    key_fetches: int = 0
    issued: list[str] = field(default_factory=list)
    server: ThreadedServer | None = None

    def __post_init__(self) -> None:
        self._lock = threading.Condition()
        self._ids = count(1)
        self.keys = [self.jwk(SIGNING_KEY, KEY_ID)]

    @staticmethod
    def jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
        public = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
        return {**public, "kid": kid, "use": "sig", "alg": "RS256", "endorsements": ["msteams"]}

    # the server ---------------------------------------------------------------------------
    def start(self) -> FakeMicrosoft:
        app = Starlette(routes=[
            Route("/v1/.well-known/openidconfiguration", self._openid, methods=["GET"]),
            Route("/v1/.well-known/keys", self._jwks, methods=["GET"]),
            Route("/{tenant}/oauth2/v2.0/token", self._token, methods=["POST"]),
            Route("/{service}/v3/{path:path}", self._connector, methods=["POST", "PUT"]),
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
    def openid_url(self) -> str:
        return f"{self.url}/v1/.well-known/openidconfiguration"

    @property
    def service_url(self) -> str:
        return f"{self.url}/connector/"

    # what the bot did ---------------------------------------------------------------------
    def wait_for(self, n: int, *, timeout: float = 10.0) -> list[Sent]:
        """The first `n` activities sent, once there are that many."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self.sent) >= n, timeout=timeout):
                raise AssertionError(f"expected {n} activities, got {self.sent}")
            return list(self.sent[:n])

    # endpoints ------------------------------------------------------------------------------
    async def _openid(self, request: Request) -> Response:
        return JSONResponse({
            "issuer": ISSUER, "authorization_endpoint": "https://invalid.botframework.com",
            "jwks_uri": f"{self.url}/v1/.well-known/keys",
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        })

    async def _jwks(self, request: Request) -> Response:
        with self._lock:
            self.key_fetches += 1
        return JSONResponse({"keys": self.keys})

    async def _token(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode()))
        with self._lock:
            self.token_requests.append({k: str(v) for k, v in form.items()})
        good = (request.path_params["tenant"] == TENANT and form.get("client_id") == APP_ID
                and form.get("client_secret") == APP_PASSWORD
                and form.get("grant_type") == "client_credentials"
                and form.get("scope") == "https://api.botframework.com/.default")
        if not good:
            return JSONResponse({"error": "invalid_client",
                                 "error_description": "AADSTS7000215: Invalid client secret"},
                                status_code=401)
        token = f"bot-access-token-{len(self.token_requests)}"
        with self._lock:
            self.issued.append(token)
        return JSONResponse({"token_type": "Bearer", "expires_in": self.token_lifetime,
                             "ext_expires_in": self.token_lifetime, "access_token": token})

    async def _connector(self, request: Request) -> Response:
        authorization = request.headers.get("authorization", "")
        body = await request.json()
        service, path = request.path_params["service"], request.path_params["path"]
        with self._lock:
            self.sent.append(Sent(request.method, service, path, body, authorization))
            self._lock.notify_all()
            issued = list(self.issued)
        if authorization.removeprefix("Bearer ") not in issued:
            return JSONResponse({"error": {"code": "Unauthorized"}}, status_code=401)
        number = next(self._ids)
        if path == "conversations":
            return JSONResponse({"id": f"a:conversation-{number}", "activityId": f"{number}"})
        return JSONResponse({"id": f"activity-{number}"})


def message(service_url: str, text: str, *, user: str = ALICE,
            conversation: str = "a:personal-alice", kind: str = "personal",
            **extra: Any) -> dict[str, Any]:
    """A message activity as Teams sends it (1:1 by default)."""
    activity: dict[str, Any] = {
        "type": "message", "id": "1700000000000", "channelId": "msteams",
        "serviceUrl": service_url, "timestamp": "2026-11-24T09:30:00.000Z",
        "from": {"id": f"29:{user}", "name": "Someone", "aadObjectId": user},
        "conversation": {"id": conversation, "conversationType": kind, "tenantId": TENANT},
        "recipient": {"id": f"28:{APP_ID}", "name": "Firebell"},
        "text": text, "textFormat": "plain",
        "channelData": {"tenant": {"id": TENANT}},
    }
    activity.update(extra)
    return activity


class TeamsHarness:
    """Firebell built by `app.build` with Teams on (Slack off), serving real HTTP, Microsoft
    faked by a `FakeMicrosoft`; the catalog is `teams_catalog`'s unless one is given."""

    def __init__(self, tmp_path: Path, *, clock: Any, catalog: Path | None = None,
                 **settings: Any) -> None:
        import httpx

        from app import Settings, build
        from bot.server import build_http_app

        self.microsoft = FakeMicrosoft().start()
        self.settings = Settings(
            firebell_config=str(catalog or teams_catalog(tmp_path)),
            database_url=f"sqlite:///{tmp_path / 'firebell.db'}",
            slack_bot_token=None, slack_signing_secret=None, slack_app_token=None,
            twilio_account_sid=None, teams_app_id=APP_ID, teams_app_password=APP_PASSWORD,
            teams_tenant_id=TENANT, teams_login_url=self.microsoft.url,
            teams_openid_url=self.microsoft.openid_url, **settings,
        )
        self.firebell = build(self.settings, clock=clock)
        self.server = ThreadedServer(build_http_app(self.firebell)).start()
        self.http = httpx.Client(timeout=10)

    def close(self) -> None:
        self.http.close()
        self.server.stop()
        self.microsoft.stop()
        self.firebell.store.dispose()

    def post(self, activity: dict[str, Any], *, token: str | None = "valid") -> Any:
        """POST the activity to /api/messages with `token` ("valid": one for its serviceUrl)."""
        if token == "valid":
            token = bot_token(activity["serviceUrl"])
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return self.http.post(f"{self.server.url}/api/messages", json=activity, headers=headers)

    def say(self, text: str, **kwargs: Any) -> Sent:
        """Send a message, wait for the bot's answer into the same conversation."""
        before = len(self.microsoft.sent)
        activity = message(self.microsoft.service_url, text, **kwargs)
        response = self.post(activity)
        assert response.status_code == 200, response.text
        return self.microsoft.wait_for(before + 1)[before]

    def incidents(self) -> list[Any]:
        with self.firebell.store.transaction() as tx:
            return list(tx.list_incidents(open_only=False))
