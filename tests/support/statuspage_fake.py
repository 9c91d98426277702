"""A fake of Atlassian Statuspage's REST API v1 on loopback, speaking its wire format.

Paths (under `/v1`): `POST /pages/{page_id}/incidents`, `GET /pages/{page_id}/incidents/unresolved`,
`GET|PATCH /pages/{page_id}/incidents/{incident_id}`, `GET /pages/{page_id}/components`.
`Authorization: OAuth <api key>`. Bodies are `{"incident": {...}}` in and the incident object out
(`incident_updates` newest first, each with `status`, `body`, `affected_components`; `components`
with their statuses), as Statuspage's API reference documents them.

Faults: `rate_limit(n)` answers the next n requests 429 with Retry-After; `lose_answers(n)` does
the next n writes and then drops the connection without an answer.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from tests.support.loopback import JsonHandler, LoopbackFake

API_KEY = "statuspage-test-key"
PAGE_ID = "kctbh9vrtdwd"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _id() -> str:
    return "".join(secrets.choice("0123456789abcdefghijklmnopqrstuvwxyz") for _ in range(12))


class FakeStatuspage(LoopbackFake):
    def __init__(self, components: dict[str, str] | None = None) -> None:
        """`components`: component id -> name, all operational at first."""
        created = _now()
        self.components: dict[str, dict[str, Any]] = {
            cid: {"id": cid, "page_id": PAGE_ID, "group_id": None, "created_at": created,
                  "updated_at": created, "group": False, "name": name, "description": None,
                  "position": n, "status": "operational", "showcase": True,
                  "only_show_if_degraded": False, "automation_email": f"component+{cid}@x.test",
                  "start_date": None}
            for n, (cid, name) in enumerate((components or {}).items(), 1)
        }
        self.incidents: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, Any]] = []  # (method, path, body) of each request
        self._limited = 0
        self._lose = 0
        super().__init__()

    @property
    def api_url(self) -> str:
        return f"{self.url}/v1"

    def rate_limit(self, times: int = 1) -> None:
        self._limited = times

    def lose_answers(self, times: int = 1) -> None:
        self._lose = times

    def writes(self) -> list[tuple[str, str, Any]]:
        return [r for r in self.requests if r[0] in ("POST", "PATCH")]

    # the API -----------------------------------------------------------------------------
    def _create(self, fields: dict[str, Any]) -> dict[str, Any]:
        now, incident_id = _now(), _id()
        incident = {
            "id": incident_id, "page_id": PAGE_ID, "name": fields.get("name", ""),
            "status": fields.get("status", "investigating"), "impact": "none",
            "impact_override": fields.get("impact_override"), "created_at": now,
            "updated_at": now, "started_at": now, "monitoring_at": None, "resolved_at": None,
            "shortlink": f"https://stspg.io/{incident_id[:7]}", "postmortem_body": None,
            "metadata": fields.get("metadata") or {}, "components": [], "incident_updates": [],
        }
        self.incidents[incident_id] = incident
        self._update(incident, fields)
        return incident

    def _update(self, incident: dict[str, Any], fields: dict[str, Any]) -> None:
        now = _now()
        if "name" in fields:
            incident["name"] = fields["name"]
        status = fields.get("status", incident["status"])
        incident["status"], incident["updated_at"] = status, now
        if status == "monitoring" and not incident["monitoring_at"]:
            incident["monitoring_at"] = now
        incident["resolved_at"] = now if status == "resolved" else None
        affected = []
        for cid, new in (fields.get("components") or {}).items():
            component = self.components[cid]
            affected.append({"code": cid, "name": component["name"],
                             "old_status": component["status"], "new_status": new})
            component["status"], component["updated_at"] = new, now
        ids = set(fields.get("component_ids") or []) | set(fields.get("components") or {})
        known = {c["id"] for c in incident["components"]}
        incident["components"] += [self.components[c] for c in sorted(ids - known)]
        if fields.get("body") is not None:
            incident["incident_updates"].insert(0, {
                "id": _id(), "incident_id": incident["id"], "status": status,
                "body": fields["body"], "created_at": now, "updated_at": now,
                "display_at": now, "affected_components": affected or None,
                "deliver_notifications": bool(fields.get("deliver_notifications", True)),
                "custom_tweet": None, "tweet_id": None,
            })

    def _answer(self, method: str, path: str, body: Any, auth: str) -> tuple[int, Any]:
        if auth != f"OAuth {API_KEY}":
            return 401, {"error": "Could not authenticate"}
        parts = path.strip("/").split("/")
        if parts[:3] != ["v1", "pages", PAGE_ID]:
            return 404, {"error": "The page could not be found"}
        rest = parts[3:]
        if rest == ["components"] and method == "GET":
            return 200, list(self.components.values())
        if rest[:1] != ["incidents"]:
            return 404, {"error": "Not found"}
        if rest == ["incidents"] and method == "POST":
            fields = (body or {}).get("incident")
            if not isinstance(fields, dict) or not fields.get("name"):
                return 400, {"error": "Name can't be blank"}
            unknown = set(fields.get("components") or {}) - set(self.components)
            if unknown:
                return 422, {"error": f"Unknown component {sorted(unknown)[0]}"}
            return 201, self._create(fields)
        if rest == ["incidents", "unresolved"] and method == "GET":
            open_ = [i for i in self.incidents.values() if i["status"] != "resolved"]
            return 200, sorted(open_, key=lambda i: i["created_at"], reverse=True)
        if len(rest) == 2 and rest[1] in self.incidents:
            incident = self.incidents[rest[1]]
            if method == "GET":
                return 200, incident
            if method in ("PATCH", "PUT"):
                self._update(incident, (body or {}).get("incident") or {})
                return 200, incident
        return 404, {"error": "Not found"}

    def _handler(self) -> type[JsonHandler]:
        fake = self

        class Handler(JsonHandler):
            content_type = "application/json; charset=utf-8"

            def _serve(self, method: str) -> None:
                body = self.read_json()
                with fake.lock:
                    fake.requests.append((method, self.path, body))
                    if fake._limited:
                        fake._limited -= 1
                        self.send_json(429, {"error": "Rate limit exceeded"}, {"Retry-After": "0"})
                        return
                    status, answer = fake._answer(method, self.path, body,
                                                  self.headers.get("Authorization", ""))
                    if fake._lose and method in ("POST", "PATCH"):
                        fake._lose -= 1  # done, but the answer never arrives
                        self.close_connection = True
                        return
                self.send_json(status, answer)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def do_PATCH(self) -> None:
                self._serve("PATCH")

        return Handler
