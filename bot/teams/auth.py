"""Who may post to `POST /api/messages`: the Bot Framework's signed bearer token, checked as
Microsoft specifies (bot-framework-rest-connector-authentication) before anything is done.

The token must be an RS256 JWT signed by a key of the JWKS that the OpenID metadata at
TEAMS_OPENID_URL names (`jwks_uri`), with issuer `https://api.botframework.com`, audience
TEAMS_APP_ID, unexpired, and a `serviceurl` claim equal to the activity's `serviceUrl`: the one
address Firebell will ever send its own token to comes from Microsoft's signature, not from
whoever wrote the body.

Not the Teams SDK's `TokenValidator`: it checks issuer and audience, but skips the `serviceurl`
check whenever the caller has no service URL to give, logs every refused token at ERROR (a log
anyone can fill), fetches keys with blocking urllib inside an `async` method and refetches the
JWKS for every unknown `kid` (one outbound request per forged token), and derives the JWKS URL
from the metadata URL by a regex instead of reading the metadata. This is the same check with
PyJWT (which the SDK uses too), keys cached and refetched at most every `refetch_seconds`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import jwt

log = logging.getLogger(__name__)

ISSUER = "https://api.botframework.com"
# Microsoft's own SDKs allow 5 minutes of clock skew between the Bot Framework and the bot.
LEEWAY_SECONDS = 300
KEYS_MAX_AGE_SECONDS = 24 * 3600  # Microsoft rotates keys; reread metadata and keys daily
MAX_TOKEN_LENGTH = 16_384  # a Bot Framework token is ~1-2 KB; longer is not one


class Unauthorized(Exception):
    """The request is not from the Bot Framework for this bot (a 401); says why, for the log."""


class BotFrameworkAuth:
    """Validates the bearer tokens of inbound activities. Thread-safe; blocking (the route runs
    it in a worker thread)."""

    def __init__(
        self, *, app_id: str, openid_url: str, http: httpx.Client | None = None,
        refetch_seconds: float = 30.0, now: Callable[[], float] = time.time,
    ) -> None:
        self.app_id = app_id
        self.openid_url = openid_url
        self.http = http or httpx.Client(timeout=10.0)
        self.refetch_seconds = refetch_seconds  # unknown kids cause at most one fetch per this
        self.now = now
        self._keys: dict[str, jwt.PyJWK] = {}
        self._endorsements: dict[str, frozenset[str]] = {}
        self._fetched_at: float | None = None
        self._lock = threading.Lock()

    def validate(self, authorization: str) -> dict[str, Any]:
        """The claims of the `Authorization` header's token, or Unauthorized. The activity is
        checked against them by `check_activity` once its body is read."""
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("no bearer token")
        if len(token) > MAX_TOKEN_LENGTH:
            raise Unauthorized("token too long")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise Unauthorized(f"not a JWT ({type(error).__name__})") from error
        kid = header.get("kid")
        if header.get("alg") != "RS256" or not isinstance(kid, str):
            raise Unauthorized("not an RS256 token with a key id")
        key = self._key(kid)
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key.key, algorithms=["RS256"], audience=self.app_id, issuer=ISSUER,
                leeway=LEEWAY_SECONDS, options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.PyJWTError as error:
            raise Unauthorized(f"token refused: {type(error).__name__}") from error
        claims["_endorsements"] = self._endorsements.get(kid, frozenset())
        return claims

    @staticmethod
    def check_activity(claims: Mapping[str, Any], activity: Mapping[str, Any]) -> None:
        """Unauthorized unless the token was issued for this activity's `serviceUrl` (and, when
        Microsoft's key lists endorsements, for its channel)."""
        service_url = activity.get("serviceUrl")
        claimed = claims.get("serviceurl")
        if not isinstance(service_url, str) or not service_url or not isinstance(claimed, str):
            raise Unauthorized("no serviceUrl, or no serviceurl claim")
        if claimed.rstrip("/") != service_url.rstrip("/"):
            raise Unauthorized("serviceUrl differs from the token's serviceurl claim")
        endorsements = claims.get("_endorsements") or frozenset()
        if endorsements and activity.get("channelId") not in endorsements:
            raise Unauthorized("the signing key is not endorsed for this channel")

    def _key(self, kid: str) -> jwt.PyJWK:
        with self._lock:
            now = self.now()
            stale = self._fetched_at is None or now - self._fetched_at > KEYS_MAX_AGE_SECONDS
            may_refetch = self._fetched_at is None or now - self._fetched_at >= self.refetch_seconds
            if stale or (kid not in self._keys and may_refetch):
                self._fetch()
            key = self._keys.get(kid)
        if key is None:
            raise Unauthorized("unknown signing key")
        return key

    def _fetch(self) -> None:
        """Metadata, then its `jwks_uri`; on failure the keys known so far stay in use."""
        self._fetched_at = self.now()
        try:
            metadata = self.http.get(self.openid_url)
            metadata.raise_for_status()
            jwks_uri = metadata.json()["jwks_uri"]
            response = self.http.get(jwks_uri)
            response.raise_for_status()
            found = response.json()["keys"]
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as error:
            log.warning("cannot fetch the Bot Framework signing keys from %s: %s",
                        self.openid_url, error)
            return
        keys: dict[str, jwt.PyJWK] = {}
        endorsements: dict[str, frozenset[str]] = {}
        for jwk in found if isinstance(found, list) else []:
            if not isinstance(jwk, dict) or not isinstance(jwk.get("kid"), str):
                continue
            try:
                keys[jwk["kid"]] = jwt.PyJWK(jwk, algorithm="RS256")
            except jwt.PyJWTError:
                continue  # a key type we do not use
            endorsed = jwk.get("endorsements")
            if isinstance(endorsed, list):
                endorsements[jwk["kid"]] = frozenset(e for e in endorsed if isinstance(e, str))
        if keys:
            self._keys, self._endorsements = keys, endorsements
