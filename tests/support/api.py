"""The JSON API through the real app: a harness on a fixed clock and an authorised GET."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from tests.support.slack_helpers import API_TOKEN, Harness

API_START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday


def api_get(h: Harness, path: str, **params: str) -> httpx.Response:
    return httpx.get(h.server.url + path, params=params, timeout=10,
                     headers={"Authorization": f"Bearer {API_TOKEN}"})
