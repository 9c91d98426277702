"""`firebell import grafana-oncall`: Grafana OnCall's public HTTP API (`{url}/api/v1/`, header
`Authorization: <token>`) read into a catalog.

What maps where:
- users -> people (username, email, timezone). OnCall's public user object has no phone number
  (only `is_phone_number_verified`), so every person is listed to check by hand.
- teams -> teams; schedules and integrations without a team share one made for them ("No team").
- schedules (web and calendar/Terraform) -> schedules: rotations -> layers, overrides from now on
  (grafana_oncall_shifts.py). iCal schedules and overrides calendars are fetched and read
  (ical_schedules.py): an exact rotation becomes a layer, other events overrides for 90 days; a
  calendar that cannot be fetched leaves the schedule empty and is reported.
- escalation chains and their steps -> escalation policies; a `wait` after a notify step is that
  step's ack timeout; `repeat_escalation` -> repeat (OnCall repeats up to 5 times).
- integrations -> services: one per route; a route whose regex or template is a plain label
  equality becomes `match: {label: value}`; the default route is a service without labels.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from icalendar import Calendar

from adapters.http import VendorError
from adapters.importing.common import Ids, Imported, SourceApi, SourceShift, person_id_from_email
from adapters.importing.grafana_oncall_shifts import map_shifts
from adapters.importing.grafana_oncall_steps import map_chain
from adapters.importing.ical_schedules import CalendarReader, People, map_ical
from workflows.ports import ExternalServiceError

NO_TEAM = "no-team"
# `"team": "payments"` in the alert's JSON, or `team="payments"` / `team=payments`.
_REGEX_LABEL = re.compile(r'^"?([A-Za-z_][A-Za-z0-9_]*)"?\s*[:=]\s*"?([A-Za-z0-9_.-]+)"?$')
# {{ payload.commonLabels.team == "payments" }} (or payload.labels / payload["labels"]["team"]).
_JINJA_LABEL = re.compile(
    r'^\{\{\s*payload(?:\.(?:common)?[lL]abels\.([A-Za-z_][A-Za-z0-9_]*)'
    r'|\[["\'](?:common)?[lL]abels["\']\]\[["\']([A-Za-z_][A-Za-z0-9_]*)["\']\])'
    r'\s*==\s*["\']([^"\']+)["\']\s*\}\}$')


class GrafanaOnCallSource:
    name = "Grafana OnCall"

    def __init__(self, *, api_url: str, token: str,
                 transport: httpx.BaseTransport | None = None) -> None:
        self._api = SourceApi(service=self.name, base_url=api_url.rstrip("/") + "/api/v1/",
                              headers={"Authorization": token}, transport=transport)
        self._calendars = CalendarReader(api_url=api_url, token=token, transport=transport)

    def fetch(self, *, now: datetime) -> Imported:
        """Everything the OnCall organisation has, mapped; overrides from `now` on."""
        users = self._all("users/")
        teams = self._all("teams/")
        schedules = self._all("schedules/")
        shifts = {s["id"]: s for s in self._all("on_call_shifts/")}
        chains = self._all("escalation_chains/")
        steps = {c["id"]: sorted(self._all("escalation_policies/", escalation_chain_id=c["id"]),
                                 key=lambda p: p.get("position") or 0) for c in chains}
        integrations = self._all("integrations/")
        routes = self._all("routes/")
        urls = sorted({url for s in schedules for url in _calendar_urls(s) if url})
        calendars = {url: self._calendars.read(url) for url in urls}
        return _Mapping(now).run(users=users, teams=teams, schedules=schedules, shifts=shifts,
                                 chains=chains, steps=steps, integrations=integrations,
                                 routes=routes, calendars=calendars)

    def final_shifts(self, imported: Imported, *, start: datetime, end: datetime
                     ) -> list[SourceShift]:
        """OnCall's final shifts (rotations, overrides and all) per schedule, in [start, end)."""
        found: list[SourceShift] = []
        by_email = {p.get("email"): p["id"] for p in imported.catalog.get("people", [])}
        # OnCall's `end_date` is a day, included: ask for every day the period touches.
        params = {"start_date": start.date().isoformat(),
                  "end_date": (end - timedelta(microseconds=1)).date().isoformat()}
        for source_id, schedule in sorted(imported.schedule_ids.items()):
            for shift in self._all(f"schedules/{source_id}/final_shifts", **params):
                person = (imported.person_ids.get(shift.get("user_pk") or "")
                          or by_email.get(shift.get("user_email"))
                          or shift.get("user_username") or shift.get("user_pk") or "?")
                a = max(_instant(shift["shift_start"]), start)
                b = min(_instant(shift["shift_end"]), end)
                if a < b:
                    found.append(SourceShift(schedule=schedule, person=person, start=a, end=b))
        return found

    def close(self) -> None:
        self._api.close()
        self._calendars.close()

    def _all(self, path: str, **params: str) -> list[dict[str, Any]]:
        """Every result of a paginated list (DRF: `results`, then `next` until it is null)."""
        page = self._get(path, params or None)
        items = list(page.get("results") or [])
        while page.get("next"):
            page = self._get(page["next"], None, absolute=True)
            items += page.get("results") or []
        return items

    def _get(self, path: str, params: dict[str, str] | None, *, absolute: bool = False) -> Any:
        try:
            return self._api.get_url(path) if absolute else self._api.get(path, params)
        except VendorError as error:
            answer = error.__cause__
            if isinstance(answer, httpx.HTTPStatusError) and \
                    answer.response.status_code in (401, 403):
                raise ExternalServiceError(
                    f"Grafana OnCall refused the API token ({answer.response.status_code} on "
                    f"GET {path.split('?')[0]}): check GRAFANA_ONCALL_API_TOKEN (an OnCall API "
                    "token, sent as `Authorization: <token>`) and GRAFANA_ONCALL_API_URL",
                    retryable=False) from error
            raise


def _calendar_urls(schedule: dict[str, Any]) -> tuple[str | None, str | None]:
    """The primary calendar (an iCal schedule's) and the overrides calendar, when set."""
    primary = schedule.get("ical_url_primary") if schedule.get("type") == "ical" else None
    return primary or None, schedule.get("ical_url_overrides") or None


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class _Mapping:
    """One run of the mapping: the ids made so far and the report being written."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.ids = Ids()
        self.out = Imported(source="Grafana OnCall", catalog={})
        self.teams: dict[str, dict[str, Any]] = {}  # OnCall team id ("" = none) -> catalog team
        self.calendars: dict[str, Calendar | str] = {}  # URL -> calendar, or why it is unread
        self.users: list[dict[str, Any]] = []
        self.notes: dict[str, dict[str, list[str]]] = {}  # section -> item id -> notes
        self.sub_notes: dict[str, dict[str, list[str]]] = {}  # "schedules:<id>" -> ".layers[0]"

    def note(self, section: str, item: str, text: str, *, sub: str = "") -> None:
        where = self.sub_notes.setdefault(f"{section}:{item}", {}) if sub else \
            self.notes.setdefault(section, {})
        lines = where.setdefault(sub or item, [])
        if text not in lines:
            lines.append(text)

    def run(self, *, users: list[dict[str, Any]], teams: list[dict[str, Any]],
            schedules: list[dict[str, Any]], shifts: dict[str, dict[str, Any]],
            chains: list[dict[str, Any]], steps: dict[str, list[dict[str, Any]]],
            integrations: list[dict[str, Any]], routes: list[dict[str, Any]],
            calendars: dict[str, Calendar | str]) -> Imported:
        people = self._people(users)
        self.calendars, self.users = calendars, users
        for team in sorted(teams, key=lambda t: t["id"]):
            self.teams[team["id"]] = {"id": self.ids.make("team", team.get("name") or team["id"]),
                                      "name": team.get("name") or team["id"]}
        mapped_schedules = self._schedules(schedules, shifts)
        policies = self._policies(chains, steps)
        services = self._services(integrations, routes, policies)
        zones = Counter(s["timezone"] for s in mapped_schedules if "timezone" in s) or Counter(
            p["timezone"] for p in people if p.get("timezone"))
        catalog: dict[str, Any] = {"timezone": zones.most_common(1)[0][0] if zones else "UTC"}
        catalog["people"] = sorted(people, key=lambda p: p["id"])
        catalog["teams"] = sorted(self.teams.values(), key=lambda t: t["id"])
        catalog["services"] = sorted(services, key=lambda s: s["id"])
        catalog["schedules"] = sorted(mapped_schedules, key=lambda s: s["id"])
        catalog["escalation_policies"] = sorted(policies.values(), key=lambda p: p["id"])
        self.out.catalog = catalog
        for section, items in catalog.items():
            if not isinstance(items, list):
                continue
            for index, item in enumerate(items):
                for text in self.notes.get(section, {}).get(item["id"], []):
                    self.out.comment(f"{section}[{index}]", text)
                for sub, lines in self.sub_notes.get(f"{section}:{item['id']}", {}).items():
                    for text in lines:
                        self.out.comment(f"{section}[{index}]{sub}", text)
        self.out.counts = {k: len(v) for k, v in catalog.items() if isinstance(v, list)}
        return self.out

    def _people(self, users: list[dict[str, Any]]) -> list[dict[str, Any]]:
        people = []
        for user in sorted(users, key=lambda u: u["id"]):
            name = user.get("username") or user.get("email") or user["id"]
            person: dict[str, Any] = {"id": person_id_from_email(user.get("email"), name, self.ids),
                                      "name": name}
            if user.get("email"):
                person["email"] = user["email"]
            if user.get("timezone"):
                person["timezone"] = user["timezone"]
            self.out.person_ids[user["id"]] = person["id"]
            people.append(person)
        if people:
            self.out.check_by_hand.append(
                "phone numbers: Grafana OnCall's public API does not give them (only whether one "
                "is verified); add `phone:` (E.164) for everyone who should get SMS or voice "
                "pages: " + ", ".join(sorted(p["id"] for p in people)))
        return people

    def _team(self, team_id: str | None, *, why: str) -> str:
        if team_id and team_id in self.teams:
            return str(self.teams[team_id]["id"])
        if "" not in self.teams:
            self.teams[""] = {"id": self.ids.make("team", NO_TEAM), "name": "No team"}
            self.note("teams", self.teams[""]["id"], "made by the import: OnCall's schedules "
                      "and integrations without a team belong to it")
        self.note("teams", self.teams[""]["id"], why)
        return str(self.teams[""]["id"])

    def _schedules(self, schedules: list[dict[str, Any]], shifts: dict[str, dict[str, Any]]
                   ) -> list[dict[str, Any]]:
        found = []
        for source in sorted(schedules, key=lambda s: s["id"]):
            name = source.get("name") or source["id"]
            sid = self.ids.make("schedule", name)
            self.out.schedule_ids[source["id"]] = sid
            team = self._team(source.get("team_id"), why=f"schedule {name!r} has no team")
            own = [shifts[i] for i in source.get("shifts") or [] if i in shifts]
            mapped = map_shifts(own, schedule_name=name, schedule_zone=source.get("time_zone"),
                                people=self.out.person_ids, now=self.now)
            schedule: dict[str, Any] = {"id": sid, "team": team, "name": name}
            if mapped.layers or mapped.overrides:  # else the catalog's zone is as good
                schedule["timezone"] = mapped.zone
            schedule["layers"] = mapped.layers
            if mapped.overrides:
                schedule["overrides"] = mapped.overrides
            if any(_calendar_urls(source)):
                self._ical(source, schedule, name=name)
            for text in mapped.notes:
                self.note("schedules", sid, text)
            for index, lines in enumerate(mapped.layer_notes):
                for text in lines:
                    self.note("schedules", sid, text, sub=f".layers[{index}]")
            self.out.check_by_hand += mapped.by_hand
            if not schedule["layers"] and not any(_calendar_urls(source)):
                self.out.check_by_hand.append(f"schedule {name!r}: no rotation was imported")
            found.append(schedule)
        return found

    def _ical(self, source: dict[str, Any], schedule: dict[str, Any], *, name: str) -> None:
        """The schedule's calendars read into it: the primary one (an iCal schedule's) as its
        layers or overrides, the overrides calendar's events as overrides after its own."""
        urls = _calendar_urls(source)
        read = [self.calendars.get(url) if url else None for url in urls]
        for url, calendar in zip(urls, read, strict=True):
            if isinstance(calendar, str):
                self.out.unmapped.append(f"schedule {name!r}: iCal calendar {url} could not be "
                                         f"fetched ({calendar}): not imported")
        primary, overrides = (c if c is not None and not isinstance(c, str) else None
                              for c in read)
        mapped = map_ical(primary, overrides, schedule_name=name, urls=urls,
                          people=People.of(self.users, self.out.person_ids), now=self.now)
        sid = schedule["id"]
        # The host only: a calendar's URL is often its secret, and the catalog is committed.
        hosts = sorted({urlsplit(u).hostname or "?" for u in urls if u})
        self.note("schedules", sid, f"OnCall reads this schedule from iCal (calendars at "
                  f"{', '.join(hosts)})")
        if isinstance(read[0], str):
            self.note("schedules", sid, "its calendar could not be fetched: add layers by hand")
            self.out.check_by_hand.append(f"schedule {name!r}: write its layers (its iCal "
                                          "calendar could not be fetched)")
        schedule["layers"] = schedule["layers"] + mapped.layers
        if mapped.overrides:
            schedule["overrides"] = schedule.get("overrides", []) + mapped.overrides
        if "timezone" not in schedule and mapped.zone:
            schedule["timezone"] = mapped.zone
        ordered: dict[str, Any] = {k: schedule.pop(k) for k in ("id", "team", "name", "timezone", "layers",
                                                "overrides") if k in schedule}
        schedule.update(ordered)
        for text in mapped.notes:
            self.note("schedules", sid, text)
        self.out.unmapped += mapped.unmapped
        self.out.check_by_hand += mapped.by_hand

    def _policies(self, chains: list[dict[str, Any]], steps: dict[str, list[dict[str, Any]]]
                  ) -> dict[str, dict[str, Any]]:
        policies: dict[str, dict[str, Any]] = {}
        for chain in sorted(chains, key=lambda c: c["id"]):
            name = chain.get("name") or chain["id"]
            pid = self.ids.make("policy", name)
            mapped = map_chain(steps.get(chain["id"], []), chain_name=name,
                               people=self.out.person_ids, schedules=self.out.schedule_ids,
                               teams={k: str(v["id"]) for k, v in self.teams.items() if k})
            self.out.unmapped += mapped.unmapped
            self.out.check_by_hand += mapped.by_hand
            if not mapped.steps:
                self.out.unmapped.append(f"escalation chain {name!r}: no step Firebell can "
                                         "take, not imported")
                continue
            policies[chain["id"]] = {"id": pid, "name": name, "repeat": mapped.repeat,
                                     "steps": mapped.steps}
            for text in mapped.notes:
                self.note("escalation_policies", pid, text)
            for index, lines in mapped.step_notes.items():
                for text in lines:
                    self.note("escalation_policies", pid, text, sub=f".steps[{index}]")
        return policies

    def _services(self, integrations: list[dict[str, Any]], routes: list[dict[str, Any]],
                  policies: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
        services = []
        used: dict[str, Counter[str]] = {}  # catalog team -> policy ids its routes use
        for integration in sorted(integrations, key=lambda i: i["id"]):
            name = integration.get("name") or integration["id"]
            team = self._team(integration.get("team_id"), why=f"integration {name!r} has no team")
            own = sorted((r for r in routes if r.get("integration_id") == integration["id"]),
                         key=lambda r: (bool(r.get("is_the_last_route")), r.get("position") or 0))
            if not own and integration.get("default_route"):
                own = [{**integration["default_route"], "is_the_last_route": True}]
            for route in own:
                default = bool(route.get("is_the_last_route"))
                match = None if default else _label_match(route)
                label = name if default else f"{name} " + (
                    "/".join(match.values()) if match else f"route {int(route.get('position') or 0) + 1}")
                service: dict[str, Any] = {"id": self.ids.make("service", label),
                                           "name": label, "team": team}
                if match:
                    service["match"] = match
                else:
                    self._no_match(service, route, integration, default=default)
                chain = route.get("escalation_chain_id")
                if chain in policies:
                    used.setdefault(team, Counter())[policies[chain]["id"]] += 1
                    service["_policy"] = policies[chain]["id"]
                elif chain:
                    self.note("services", service["id"], "its escalation chain was not imported")
                else:
                    self.note("services", service["id"], "OnCall pages nobody for this route "
                              "(no escalation chain)")
                services.append(service)
        for entry in self.teams.values():
            counts = used.get(entry["id"])
            if counts:  # the most used policy, the first by id of equals
                entry["escalation_policy"] = min(counts.items(), key=lambda c: (-c[1], c[0]))[0]
        by_id = {t["id"]: t for t in self.teams.values()}
        for service in services:
            policy = service.pop("_policy", None)
            chosen = by_id[service["team"]].get("escalation_policy")
            if policy and policy != chosen:
                text = (f"OnCall escalates this route with {policy!r}; Firebell's policy belongs "
                        f"to the team, which uses {chosen!r} (its most used)")
                self.note("services", service["id"], text)
                self.out.check_by_hand.append(f"service {service['id']!r}: {text}")
        return services

    def _no_match(self, service: dict[str, Any], route: dict[str, Any],
                  integration: dict[str, Any], *, default: bool) -> None:
        if default:
            self.note("services", service["id"], f"the default route of OnCall integration "
                      f"{integration.get('name')!r} ({integration.get('type') or '?'}): Firebell "
                      f"routes by alert labels, so give it `match:` labels or have its alerts "
                      f"carry `service: {service['id']}`")
            self.out.check_by_hand.append(f"service {service['id']!r}: add the `match` labels "
                                          "its alerts carry (OnCall routed them by integration)")
            return
        text = str(route.get("routing_regex") or "").strip()
        self.note("services", service["id"], f"OnCall routed alerts matching {text!r} here; "
                  "not a plain label equality: write `match:` labels by hand")
        self.out.check_by_hand.append(f"service {service['id']!r}: route {text!r} has no "
                                      "`match` labels")


def _label_match(route: dict[str, Any]) -> dict[str, str] | None:
    """`{label: value}` when the route's regex or template only asks that one label equal a
    value (how most Alertmanager and Grafana routes are written), else None."""
    text = str(route.get("routing_regex") or "").strip()
    if route.get("routing_type") == "jinja2":
        found = _JINJA_LABEL.match(text)
        return {found[1] or found[2]: found[3]} if found else None
    found = _REGEX_LABEL.match(text)
    return {found[1]: found[2]} if found else None
