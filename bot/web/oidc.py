"""OpenID Connect sign-in (authorization code flow) for the web view: "Sign in with Slack" and
Microsoft Entra, the same client for both.

The provider is read from its discovery document (`{base}/.well-known/openid-configuration`):
Slack's at https://slack.com, Entra's at `{ENTRA_LOGIN_URL}/{tenant}/v2.0`. The id_token must be
RS256-signed by a key of the provider's JWKS, with the discovered issuer, our client id as
audience, the nonce this browser was given, and unexpired; nothing in it is believed otherwise.
Blocking (httpx.Client): the routes call it in a worker thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt

log = logging.getLogger(__name__)

LEEWAY_SECONDS = 120  # clock skew between the provider and this host
METADATA_MAX_AGE_SECONDS = 24 * 3600  # providers rotate keys; reread discovery and keys daily
MAX_TOKEN_LENGTH = 16_384
RETRY_SECONDS = 30.0  # after the provider failed to answer discovery or its keys


class SignInRefused(Exception):
    """The provider's answer cannot sign anybody in; the message says why (shown to the person,
    so it names no secret)."""


@dataclass(frozen=True)
class Identity:
    """Who the provider says signed in: the ids the catalog may know them by."""

    subject: str  # the provider's `sub`
    chat_id: str | None  # Slack user id (`https://slack.com/user_id`) or Entra object id (`oid`)
    email: str | None
    name: str | None


class OpenIdProvider:
    """One OpenID provider and this Firebell's client registration at it. Thread-safe."""

    def __init__(
        self, *, name: str, label: str, issuer_url: str, client_id: str, client_secret: str,
        chat_claim: str, scope: str = "openid email profile",
        http: httpx.Client | None = None, now: Callable[[], float] = time.time,
    ) -> None:
        self.name, self.label = name, label  # "slack", "Slack"
        self.issuer_url = issuer_url.rstrip("/")
        self.client_id, self.client_secret = client_id, client_secret
        self.chat_claim = chat_claim
        self.scope = scope
        self.http = http or httpx.Client(timeout=10.0)
        self.now = now
        self._metadata: dict[str, Any] | None = None
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._failed_at: float | None = None
        self._lock = threading.Lock()

    def authorize_url(self, *, state: str, nonce: str, redirect_uri: str) -> str:
        endpoint = self._endpoint("authorization_endpoint")
        query = urlencode({
            "response_type": "code", "client_id": self.client_id, "scope": self.scope,
            "redirect_uri": redirect_uri, "state": state, "nonce": nonce,
        })
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"

    def identity(self, *, code: str, nonce: str, redirect_uri: str) -> Identity:
        """Exchanges the code at the token endpoint, checks the id_token, and reads who it is
        (from the userinfo endpoint too when the id_token names neither chat id nor email)."""
        try:
            answer = self.http.post(self._endpoint("token_endpoint"), data={
                "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                "client_id": self.client_id, "client_secret": self.client_secret,
            }, headers={"Accept": "application/json"})
            tokens = answer.json() if answer.content else {}
        except (httpx.HTTPError, ValueError) as error:
            raise SignInRefused(f"{self.label} did not answer the sign-in "
                                f"({type(error).__name__})") from error
        if not isinstance(tokens, dict) or not answer.is_success or tokens.get("ok") is False:
            raise SignInRefused(f"{self.label} refused the sign-in code")
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise SignInRefused(f"{self.label} sent no id_token")
        claims = self._verify(id_token, nonce=nonce)
        if not (claims.get(self.chat_claim) or claims.get("email")):
            claims = {**self._userinfo(tokens.get("access_token")), **claims}
        return Identity(
            subject=str(claims["sub"]), chat_id=_text(claims.get(self.chat_claim)),
            email=_text(claims.get("email")) or _text(claims.get("preferred_username")),
            name=_text(claims.get("name")),
        )

    def _verify(self, token: str, *, nonce: str) -> dict[str, Any]:
        if len(token) > MAX_TOKEN_LENGTH:
            raise SignInRefused("the id_token is too long")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise SignInRefused("the id_token is not a JWT") from error
        kid = header.get("kid")
        if header.get("alg") != "RS256" or not isinstance(kid, str):
            raise SignInRefused("the id_token is not RS256-signed with a key id")
        key = self._key(kid)
        issuer = self._metadata_value("issuer")
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key.key, algorithms=["RS256"], audience=self.client_id, issuer=issuer,
                leeway=LEEWAY_SECONDS, options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as error:
            raise SignInRefused(f"the id_token was refused ({type(error).__name__})") from error
        if not isinstance(claims.get("nonce"), str) or claims["nonce"] != nonce:
            raise SignInRefused("the id_token is not for this sign-in (nonce)")
        return claims

    def _userinfo(self, access_token: object) -> dict[str, Any]:
        endpoint = (self._metadata or {}).get("userinfo_endpoint")
        if not isinstance(access_token, str) or not isinstance(endpoint, str):
            return {}
        try:
            answer = self.http.get(endpoint, headers={"Authorization": f"Bearer {access_token}"})
            found = answer.json()
        except (httpx.HTTPError, ValueError):
            log.warning("%s userinfo did not answer", self.label)
            return {}
        if not (answer.is_success and isinstance(found, dict)):
            return {}
        found.pop("sub", None)  # the signed id_token's subject is the one believed
        return found

    def _endpoint(self, key: str) -> str:
        value = self._metadata_value(key)
        if not value.startswith(("https://", "http://")):
            raise SignInRefused(f"{self.label}'s OpenID configuration has no {key}")
        return value

    def _metadata_value(self, key: str) -> str:
        with self._lock:
            if self._metadata is None or self._stale():
                self._fetch()
            value = (self._metadata or {}).get(key)
        if not isinstance(value, str):
            raise SignInRefused(f"{self.label}'s OpenID configuration is unavailable")
        return value

    def _key(self, kid: str) -> jwt.PyJWK:
        with self._lock:
            if self._stale() or kid not in self._keys:
                self._fetch()  # an unknown kid: the provider rotated its keys
            key = self._keys.get(kid)
        if key is None:
            raise SignInRefused("the id_token is signed by an unknown key")
        return key

    def _stale(self) -> bool:
        return self._fetched_at is None or self.now() - self._fetched_at > METADATA_MAX_AGE_SECONDS

    def _fetch(self) -> None:
        """Discovery, then its `jwks_uri`; on failure what is known stays in use, and the
        provider is not asked again for RETRY_SECONDS (anonymous visitors start sign-ins)."""
        if self._failed_at is not None and self.now() - self._failed_at < RETRY_SECONDS:
            return
        url = f"{self.issuer_url}/.well-known/openid-configuration"
        try:
            answer = self.http.get(url)
            answer.raise_for_status()
            metadata = answer.json()
            keys_answer = self.http.get(metadata["jwks_uri"])
            keys_answer.raise_for_status()
            found = keys_answer.json()["keys"]
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as error:
            log.warning("cannot read %s's OpenID configuration at %s: %s", self.label, url, error)
            self._failed_at = self.now()
            return
        self._failed_at = None
        keys: dict[str, jwt.PyJWK] = {}
        for jwk in found if isinstance(found, list) else []:
            if isinstance(jwk, dict) and isinstance(jwk.get("kid"), str):
                try:
                    keys[jwk["kid"]] = jwt.PyJWK(jwk, algorithm="RS256")
                except jwt.PyJWTError:
                    continue  # a key type we do not use
        self._metadata, self._keys, self._fetched_at = metadata, keys, self.now()


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
