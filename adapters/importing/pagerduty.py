"""The PagerDuty importer: REST API v2 (read-only key) to a catalog.

Read: users (with contact methods, for the phone), teams, services (with integrations),
schedules and their overrides from now on, escalation policies; everything list-shaped is read
page by page (`limit`, `offset`, `more`). Counted but not imported, as Firebell has no
equivalent: event orchestrations and rulesets (Firebell routes by the catalog's `match`
labels), business services.

How an alert finds its service: an event sent to Firebell's PagerDuty-compatible intake
(`POST /v2/enqueue`) authenticates with its `routing_key` against the catalog's
`intake.integrations` tokens, and the signal carries the name of the integration that took it
as the label `integration`. So each PagerDuty integration key becomes an intake integration
named after its service (`pagerduty-<service id>`), and the service matches
`{integration: pagerduty-<service id>}`: senders keep their keys and change only the URL.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx

from adapters.importing.common import Imported, SourceApi, SourceShift
from adapters.importing.pagerduty_mapping import Raw, map_account
from workflows.ports import ExternalServiceError

PAGE = 100  # PagerDuty's largest page


class PagerDutySource:
    name = "PagerDuty"

    def __init__(self, *, api_url: str, token: str,
                 transport: httpx.BaseTransport | None = None) -> None:
        self._api = SourceApi(service="PagerDuty", base_url=api_url, transport=transport, headers={
            "Authorization": f"Token token={token}",
            "Accept": "application/vnd.pagerduty+json;version=2",
        })

    def fetch(self, *, now: datetime) -> Imported:
        raw = Raw(
            users=self._list("users", "users", {"include[]": "contact_methods"}),
            teams=self._list("teams", "teams"),
            services=self._list("services", "services", {"include[]": "integrations"}),
            policies=self._list("escalation_policies", "escalation_policies"),
            schedules=[self._get(f"schedules/{s['id']}")["schedule"]
                       for s in self._list("schedules", "schedules")],
        )
        until = now + timedelta(days=365)
        raw.overrides = {
            s["id"]: self._list(f"schedules/{s['id']}/overrides", "overrides",
                                {"since": _iso(now), "until": _iso(until)})
            for s in raw.schedules
        }
        raw.extras = {what: self._count(path, key) for what, path, key in _NOT_IMPORTED}
        return map_account(raw, now=now)

    def final_shifts(self, imported: Imported, *, start: datetime, end: datetime
                     ) -> list[SourceShift]:
        shifts: list[SourceShift] = []
        for source_id, schedule_id in sorted(imported.schedule_ids.items(), key=lambda i: i[1]):
            answer = self._get(f"schedules/{source_id}", {
                "since": _iso(start), "until": _iso(end), "time_zone": "UTC"})
            final = (answer["schedule"].get("final_schedule") or {})
            for entry in final.get("rendered_schedule_entries") or []:
                user = entry.get("user") or {}
                person = imported.person_ids.get(str(user.get("id")), user.get("summary") or "?")
                begin = max(_time(entry["start"]), start)
                finish = min(_time(entry["end"]), end)
                if begin < finish:
                    shifts.append(SourceShift(schedule_id, person, begin, finish))
        return shifts

    def close(self) -> None:
        self._api.close()

    # Reading --------------------------------------------------------------------------------
    def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        try:
            return self._api.get(path, params)
        except ExternalServiceError as error:
            answer = getattr(error.__cause__, "response", None)
            if answer is not None and answer.status_code in (401, 403):
                raise ExternalServiceError(
                    f"PagerDuty refused the API key (GET /{path} answered "
                    f"{answer.status_code}): check PAGERDUTY_API_TOKEN, a read-only REST API "
                    "key of the account", retryable=False) from error
            raise

    def _list(self, path: str, key: str, params: dict[str, Any] | None = None
              ) -> list[dict[str, Any]]:
        """Every item of a PagerDuty list, page by page."""
        items: list[dict[str, Any]] = []
        while True:
            page = self._get(path, {**(params or {}), "limit": PAGE, "offset": len(items)})
            found = page.get(key) or []
            items += found
            if not page.get("more") or not found:
                return items

    def _count(self, path: str, key: str) -> int | None:
        """How many of something the account has; None when the key may not read it (plan)."""
        try:
            return len(self._list(path, key))
        except ExternalServiceError as error:
            answer = getattr(error.__cause__, "response", None)
            if answer is not None and answer.status_code in (400, 402, 403, 404):
                return None
            raise


_NOT_IMPORTED = (
    ("event orchestrations", "event_orchestrations", "orchestrations"),
    ("rulesets", "rulesets", "rulesets"),
    ("business services", "business_services", "business_services"),
)


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
