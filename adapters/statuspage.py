"""The status page port over Atlassian Statuspage's REST API v1 (a thin httpx client).

An incident is created with `POST /pages/{page_id}/incidents` and updated with
`PATCH /pages/{page_id}/incidents/{incident_id}`, each carrying `{"incident": {...}}`; the API key
goes as `Authorization: OAuth <key>`. Statuspage answers a rate limit with 420 or 429.

A write is not safe to repeat blindly (a repeated create is a second incident on the page, a
repeated update a second identical update), so every attempt after a first that may have reached
Statuspage looks first: a create for the incident among the unresolved ones by its reference in
the name, an update at whether the incident shows it already.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from adapters.http import RetryPolicy, request_json, retrying

DEFAULT_API_URL = "https://api.statuspage.io/v1"


def _rate_limited(response: httpx.Response) -> bool:
    return response.status_code == 420  # Statuspage's older "enhance your calm"


class StatuspageIncidents:
    """`StatusPagePort` for one Atlassian Statuspage page."""

    def __init__(
        self, *, api_key: str, page_id: str, api_url: str = DEFAULT_API_URL,
        transport: httpx.BaseTransport | None = None, timeout: float = 15.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.page_id = page_id
        self.retry = retry or RetryPolicy()
        self._http = httpx.Client(
            base_url=api_url.rstrip("/"), timeout=timeout, transport=transport,
            headers={"Authorization": f"OAuth {api_key}", "Accept": "application/json",
                     "Content-Type": "application/json"},
        )

    def sync_incident(
        self, *, ref: str | None, tag: str, name: str, status: str, body: str,
        components: dict[str, str], retried: bool = False,
    ) -> str:
        attempts = 0

        def once() -> str:
            nonlocal attempts
            attempts += 1
            return self._sync(ref=ref, tag=tag, name=name, status=status, body=body,
                              components=components, careful=retried or attempts > 1)

        return retrying(self.retry, once, what=f"Statuspage incident {tag}")

    def _sync(
        self, *, ref: str | None, tag: str, name: str, status: str, body: str,
        components: dict[str, str], careful: bool,
    ) -> str:
        fields: dict[str, Any] = {"status": status, "body": body,
                                  "component_ids": sorted(components), "components": components}
        if ref is None and careful:
            ref = self._find(tag)
        if ref is None:
            created = self._call("POST", self._incidents(), {"incident": {"name": name, **fields}})
            return str(created["id"])
        if careful and self._shows(ref, status=status, body=body):
            return ref
        self._call("PATCH", self._incidents(ref), {"incident": fields})
        return ref

    def _find(self, tag: str) -> str | None:
        """The unresolved incident whose name carries `tag` (an earlier attempt made it)."""
        found = self._call("GET", self._incidents("unresolved"))
        named = re.compile(rf"(?<![\w-]){re.escape(tag)}(?![\w-])")
        return next((str(i["id"]) for i in found if named.search(str(i.get("name", "")))), None)

    def _shows(self, ref: str, *, status: str, body: str) -> bool:
        """Whether the incident's newest update is this one (it got through before)."""
        incident = self._call("GET", self._incidents(ref))
        updates = sorted(incident.get("incident_updates") or [],
                         key=lambda u: str(u.get("created_at", "")), reverse=True)
        return (incident.get("status") == status and bool(updates)
                and updates[0].get("body") == body)

    def _incidents(self, suffix: str | None = None) -> str:
        path = f"/pages/{self.page_id}/incidents"
        return f"{path}/{suffix}" if suffix else path

    def _call(self, method: str, path: str, payload: Any = None) -> Any:
        return request_json(self._http, method, path, service="Statuspage", json=payload,
                            rate_limited=_rate_limited)
