"""A fake OpenID Connect provider on loopback, speaking Slack's or Microsoft Entra's wire format:
the discovery document, an authorize endpoint that "signs in" `user` at once and redirects back
with a code, the token endpoint (an RS256 id_token signed with a test key, `kid` in its header),
the JWKS and userinfo.

Slack: SLACK_OIDC_URL=fake.url (issuer = that URL). Entra: ENTRA_LOGIN_URL=fake.login_url with
ENTRA_TENANT_ID=fake.tenant (issuer = `{login_url}/{tenant}/v2.0`). Tests change what the next
id_token says with `claims` (merged over the real ones, e.g. {"nonce": "other"}) or sign it with
a key the JWKS does not hold (`signing_key`).
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qs, urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.support.slack_helpers import ThreadedServer

CLIENT_ID = "firebell-web-client"
CLIENT_SECRET = "firebell-web-secret"
TENANT = "11111111-2222-3333-4444-555555555555"
KID = "test-key-1"


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class Authorization:
    """One authorize request as the browser made it, and what the code stands for."""

    query: dict[str, str]
    user: dict[str, Any]


@dataclass
class FakeOpenId:
    kind: Literal["slack", "entra"]
    user: dict[str, Any] = field(default_factory=dict)  # who signs in at the next authorize
    claims: dict[str, Any] = field(default_factory=dict)  # merged over the next id_tokens
    key: rsa.RSAPrivateKey = field(default_factory=rsa_key)  # the JWKS holds this one
    signing_key: rsa.RSAPrivateKey | None = None  # signs id_tokens instead of `key`
    userinfo_only: frozenset[str] = frozenset()  # claims left out of the id_token (userinfo has them)
    down: bool = False  # discovery answers 503
    discoveries: int = 0  # discovery documents asked for
    authorizations: list[Authorization] = field(default_factory=list)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    _codes: dict[str, Authorization] = field(default_factory=dict)
    _access: dict[str, dict[str, Any]] = field(default_factory=dict)
    server: ThreadedServer | None = None

    # --- addresses ---------------------------------------------------------------------------
    @property
    def login_url(self) -> str:
        assert self.server is not None
        return self.server.url

    @property
    def url(self) -> str:
        """The issuer (and the base of the discovery document)."""
        return self.login_url if self.kind == "slack" else f"{self.login_url}/{TENANT}/v2.0"

    @property
    def tenant(self) -> str:
        return TENANT

    def settings(self) -> dict[str, str]:
        """The Firebell settings that point sign-in at this fake."""
        if self.kind == "slack":
            return {"slack_client_id": CLIENT_ID, "slack_client_secret": CLIENT_SECRET,
                    "slack_oidc_url": self.url}
        return {"entra_client_id": CLIENT_ID, "entra_client_secret": CLIENT_SECRET,
                "entra_tenant_id": TENANT, "entra_login_url": self.login_url}

    def start(self) -> FakeOpenId:
        prefix = "" if self.kind == "slack" else f"/{TENANT}/v2.0"
        paths = _SLACK if self.kind == "slack" else _ENTRA
        app = Starlette(routes=[
            Route(f"{prefix}/.well-known/openid-configuration", self._discovery),
            Route(paths["authorize"], self._authorize),
            Route(paths["token"], self._token, methods=["POST"]),
            Route(paths["jwks"], self._jwks),
            Route(paths["userinfo"], self._userinfo),
        ])
        self.server = ThreadedServer(app).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()

    # --- endpoints ---------------------------------------------------------------------------
    async def _discovery(self, request: Request) -> Response:
        self.discoveries += 1
        if self.down:
            return JSONResponse({"error": "unavailable"}, status_code=503)
        paths = _SLACK if self.kind == "slack" else _ENTRA
        return JSONResponse({
            "issuer": self.url,
            "authorization_endpoint": self.login_url + paths["authorize"],
            "token_endpoint": self.login_url + paths["token"],
            "jwks_uri": self.login_url + paths["jwks"],
            "userinfo_endpoint": self.login_url + paths["userinfo"],
            "response_types_supported": ["code"],
            "id_token_signing_alg_values_supported": ["RS256"],
        })

    async def _authorize(self, request: Request) -> Response:
        query = dict(request.query_params)
        self.authorizations.append(Authorization(query, dict(self.user)))
        if query.get("client_id") != CLIENT_ID or query.get("response_type") != "code" \
                or "openid" not in query.get("scope", "").split():
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        code = secrets.token_urlsafe(16)
        self._codes[code] = self.authorizations[-1]
        back = urlencode({"code": code, "state": query.get("state", "")})
        return RedirectResponse(f"{query['redirect_uri']}?{back}", status_code=302)

    async def _token(self, request: Request) -> Response:
        # As sent: application/x-www-form-urlencoded (no multipart parser needed).
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        self.token_requests.append(form)
        grant = self._codes.pop(form.get("code", ""), None)
        if (grant is None or form.get("client_id") != CLIENT_ID
                or form.get("client_secret") != CLIENT_SECRET
                or form.get("redirect_uri") != grant.query.get("redirect_uri")):
            return JSONResponse({"ok": False, "error": "invalid_grant"}, status_code=400)
        now = int(time.time())
        claims = {"iss": self.url, "aud": CLIENT_ID, "iat": now, "exp": now + 3600,
                  "nonce": grant.query.get("nonce"), **grant.user, **self.claims}
        access = secrets.token_urlsafe(16)
        self._access[access] = claims
        id_claims = {k: v for k, v in claims.items() if k not in self.userinfo_only}
        token = jwt.encode(id_claims, self.signing_key or self.key, algorithm="RS256",
                           headers={"kid": KID})
        return JSONResponse({"ok": True, "access_token": access, "token_type": "Bearer",
                             "id_token": token})

    async def _jwks(self, request: Request) -> Response:
        public = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        return JSONResponse({"keys": [{**public, "kid": KID, "use": "sig", "alg": "RS256"}]})

    async def _userinfo(self, request: Request) -> Response:
        access = request.headers.get("authorization", "").removeprefix("Bearer ")
        claims = self._access.get(access)
        if claims is None:
            return JSONResponse({"ok": False, "error": "invalid_auth"}, status_code=401)
        return JSONResponse({"ok": True, **{k: v for k, v in claims.items()
                                            if k not in ("iss", "aud", "iat", "exp", "nonce")}})


_SLACK = {"authorize": "/openid/connect/authorize", "token": "/api/openid.connect.token",
          "jwks": "/openid/connect/keys", "userinfo": "/api/openid.connect.userInfo"}
_ENTRA = {"authorize": f"/{TENANT}/oauth2/v2.0/authorize", "token": f"/{TENANT}/oauth2/v2.0/token",
          "jwks": f"/{TENANT}/discovery/v2.0/keys", "userinfo": "/oidc/userinfo"}


def slack_user(user_id: str, email: str, name: str = "") -> dict[str, Any]:
    """The claims Slack's id_token carries for a person."""
    return {"sub": user_id, "https://slack.com/user_id": user_id,
            "https://slack.com/team_id": "T0FIREBELL", "email": email, "email_verified": True,
            "name": name or user_id}


def entra_user(oid: str, email: str, name: str = "") -> dict[str, Any]:
    """The claims an Entra v2.0 id_token carries (scope openid profile email)."""
    return {"sub": f"pairwise-{oid}", "oid": oid, "tid": TENANT, "email": email,
            "preferred_username": email, "name": name or email}
