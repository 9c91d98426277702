"""Vendors over HTTP: calling their JSON APIs (httpx errors become Firebell's own) and checking
the signatures of their webhooks."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Any

import httpx

from workflows.ports import ExternalServiceError


def _never(response: httpx.Response) -> bool:
    return False


def request_json(
    client: httpx.Client,
    method: str,
    path: str,
    *,
    service: str,
    json: Any = None,
    params: dict[str, Any] | None = None,
    rate_limited: Callable[[httpx.Response], bool] = _never,
) -> Any:
    """One request to `service` ("GitHub", "Jira"); its JSON answer, {} when the body is empty.

    Every httpx error becomes an `ExternalServiceError` raised from it: retryable for 429, a 5xx,
    a failed connection, and an error answer that `rate_limited` says is a rate limit.
    """
    try:
        response = client.request(method, path, json=json, params=params)
        response.raise_for_status()
    except httpx.HTTPStatusError as error:
        status = error.response.status_code
        raise ExternalServiceError(
            f"{service} {method} {path} answered {status}: {error.response.text[:300]}",
            retryable=status == 429 or status >= 500 or rate_limited(error.response),
        ) from error
    except httpx.HTTPError as error:
        raise ExternalServiceError(f"{service} {method} {path} failed: {error!r}", retryable=True) from error
    return response.json() if response.content else {}


def signature_matches(*, secret: str, body: bytes, given: str) -> bool:
    """Whether `given` is "sha256=<hex HMAC-SHA256 of body>", as GitHub and Jira sign webhooks."""
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(given.encode(), expected.encode())
