"""A fake of PagerDuty's REST API v2 on loopback, speaking its documented JSON shapes.

Read-only paths: `GET /users` (`include[]=contact_methods`), `/teams`, `/services`
(`include[]=integrations`), `/escalation_policies`, `/schedules`, `/schedules/{id}` (with
`since`/`until`: its `final_schedule`), `/schedules/{id}/overrides`, `/event_orchestrations`,
`/business_services` (`/rulesets` answers 404, as for an account without them). Lists are
offset-paginated (`limit`, `offset`, `more`, `total`) with at most `page_size` items a page, so
every list of the account below spans pages. Auth is `Authorization: Token token=<TOKEN>`.
`limit_once` makes the next request of a path answer 429 with `ratelimit-reset` and no
Retry-After, as PagerDuty does.

The account: five people, three teams, five services, three schedules in Europe/Berlin and five
escalation policies. `final` is what PagerDuty itself says is on call (its final schedule),
written by hand for NOW .. NOW + 14 days, across the DST change of 2027-03-28.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from tests.support.loopback import JsonHandler, LoopbackFake

TOKEN = "pd-read-only-key-for-tests"
NOW = datetime.fromisoformat("2027-03-22T10:00:00+00:00")  # a Monday, CET, before the change
KEYS = {"api": "a1b2c3d4e5f60718293a4b5c6d7e8f90", "checkout": "b2c3d4e5f60718293a4b5c6d7e8f90a1",
        "batch": "c3d4e5f60718293a4b5c6d7e8f90a1b2", "search": "d4e5f60718293a4b5c6d7e8f90a1b2c3"}


def _ref(kind: str, id: str, summary: str) -> dict[str, Any]:
    return {"id": id, "type": f"{kind}_reference", "summary": summary,
            "self": f"https://api.pagerduty.com/{kind}s/{id}"}


def _user(id: str, name: str, email: str, zone: str, *methods: dict[str, Any]) -> dict[str, Any]:
    contact = [{"id": f"{id}E", "type": "email_contact_method", "summary": "Work",
                "label": "Work", "address": email}, *methods]
    return {"id": id, "type": "user", "summary": name, "name": name, "email": email,
            "time_zone": zone, "color": "green", "role": "user", "description": "",
            "invitation_sent": False, "job_title": "", "teams": [],
            "contact_methods": contact, "html_url": f"https://acme.pagerduty.com/users/{id}"}


def _phone(kind: str, country: int, address: str) -> dict[str, Any]:
    return {"id": f"P{kind[:2].upper()}{address[-3:]}", "type": f"{kind}_contact_method",
            "summary": "Mobile", "label": "Mobile", "address": address, "country_code": country}


USERS = [
    _user("PU1ALIC", "Alice Archer", "alice@example.com", "Europe/Berlin",
          _phone("phone", 49, "1511234567")),
    _user("PU2BOBB", "Bob Baker", "bob@example.com", "Europe/Berlin",
          _phone("sms", 49, "1517654321")),
    _user("PU3CARO", "Carol Chen", "carol@example.com", "America/New_York",
          _phone("phone", 1, "5550100003")),
    _user("PU4DANN", "Dan Diaz", "dan@example.com", "Europe/Berlin"),
    _user("PU5EVEE", "Eve Evans", "eve@example.com", "Europe/Berlin",
          _phone("phone", 44, "7700900123")),
]
TEAMS = [{"id": id, "type": "team", "summary": name, "name": name, "description": None}
         for id, name in (("PT1PAYM", "Payments"), ("PT2PLAT", "Platform"), ("PT3SRCH", "Search"))]
_TEAM = {t["id"]: t["name"] for t in TEAMS}
_USER = {u["id"]: u["name"] for u in USERS}


def _members(*ids: str) -> list[dict[str, Any]]:
    return [{"user": _ref("user", i, _USER.get(i, "Deleted user"))} for i in ids]


def _weekly(day: int, start: str, seconds: int) -> dict[str, Any]:
    return {"type": "weekly_restriction", "start_time_of_day": start,
            "duration_seconds": seconds, "start_day_of_week": day}


def _layer(id: str, name: str, *, start: str, virtual: str, turn: int, users: list[str],
           end: str | None = None, restrictions: list[dict[str, Any]] | None = None
           ) -> dict[str, Any]:
    return {"id": id, "name": name, "start": start, "end": end, "rotation_virtual_start": virtual,
            "rotation_turn_length_seconds": turn, "users": _members(*users),
            "restrictions": restrictions or [], "rendered_schedule_entries": [],
            "rendered_coverage_percentage": None}


def _schedule(id: str, name: str, teams: list[str], layers: list[dict[str, Any]]
              ) -> dict[str, Any]:
    # PagerDuty lists a schedule's layers with the one that wins (the top) first.
    return {"id": id, "type": "schedule", "summary": name, "name": name,
            "time_zone": "Europe/Berlin", "description": None, "users": [],
            "teams": [_ref("team", t, _TEAM[t]) for t in teams], "escalation_policies": [],
            "schedule_layers": layers, "html_url": f"https://acme.pagerduty.com/schedules/{id}"}


SCHEDULES = [
    _schedule("PS1PAYM", "Payments Primary", ["PT1PAYM"], [
        _layer("PL1WEEK", "Weekly", start="2027-01-04T09:00:00+01:00",
               virtual="2027-01-04T09:00:00+01:00", turn=604800,
               users=["PU1ALIC", "PU2BOBB", "PU5EVEE"]),
    ]),
    _schedule("PS2PLAT", "Platform Daytime", ["PT2PLAT"], [
        _layer("PL2DAYS", "Business hours", start="2027-01-04T09:00:00+01:00",
               virtual="2027-01-04T09:00:00+01:00", turn=604800, users=["PU3CARO", "PU4DANN"],
               restrictions=[_weekly(day, "09:00:00", 8 * 3600) for day in range(1, 6)]),
    ]),
    _schedule("PS3SRCH", "Search Follow The Sun", [], [
        _layer("PL3OLD", "Old layer", start="2026-01-05T09:00:00+01:00",
               virtual="2026-01-05T09:00:00+01:00", turn=604800, users=["PU1ALIC"],
               end="2027-01-01T00:00:00+01:00"),
        _layer("PL3SUN", "Follow the sun", start="2027-01-04T08:00:00+01:00",
               virtual="2027-01-04T08:00:00+01:00", turn=12 * 3600,
               users=["PU1ALIC", "PU3CARO", "PU9GONE"],
               restrictions=[_weekly(1, "09:00:00", 4 * 86400 + 8 * 3600)]),
        _layer("PL3NGT", "Nights", start="2027-04-01T18:00:00+02:00",
               virtual="2027-01-04T18:00:00+01:00", turn=86400, users=["PU2BOBB", "PU4DANN"],
               restrictions=[
                   {"type": "daily_restriction", "start_time_of_day": "18:00:00",
                    "duration_seconds": 14 * 3600},
                   {"type": "daily_restriction", "start_time_of_day": "12:00:00",
                    "duration_seconds": 3600},
               ]),
    ]),
]
OVERRIDES = {
    "PS1PAYM": [{"id": "PO1", "start": "2027-03-27T10:00:00+01:00",
                 "end": "2027-03-28T10:00:00+02:00", "user": _ref("user", "PU3CARO", "Carol Chen")}],
}


def _rule(id: str, delay: int, *targets: tuple[str, str], round_robin: bool = False
          ) -> dict[str, Any]:
    names = {**_USER, **{s["id"]: s["name"] for s in SCHEDULES}}
    rule: dict[str, Any] = {
        "id": id, "escalation_delay_in_minutes": delay,
        "targets": [_ref(kind, tid, names.get(tid, "Deleted")) for kind, tid in targets]}
    if round_robin:
        rule["escalation_rule_assignment_strategy"] = {"type": "round_robin"}
    return rule


def _policy(id: str, name: str, teams: list[str], loops: int, *rules: dict[str, Any]
            ) -> dict[str, Any]:
    return {"id": id, "type": "escalation_policy", "summary": name, "name": name,
            "num_loops": loops, "on_call_handoff_notifications": "if_has_services",
            "escalation_rules": list(rules), "services": [],
            "teams": [_ref("team", t, _TEAM[t]) for t in teams]}


POLICIES = [
    _policy("PEP1PAY", "Payments Escalation", ["PT1PAYM"], 2,
            _rule("R11", 30, ("schedule", "PS1PAYM")),
            _rule("R12", 15, ("user", "PU3CARO"), ("schedule", "PS2PLAT"))),
    _policy("PEP2PLA", "Platform Escalation", ["PT2PLAT"], 0,
            _rule("R21", 10, ("schedule", "PS2PLAT"))),
    _policy("PEP3SRC", "Search Escalation", ["PT3SRCH"], 1,
            _rule("R31", 5, ("schedule", "PS3SRCH"), round_robin=True),
            _rule("R32", 20, ("user", "PU9GONE"))),
    _policy("PEP4LOW", "Payments Low Urgency", ["PT1PAYM"], 0,
            _rule("R41", 60, ("user", "PU4DANN"))),
    _policy("PEP5OPS", "Ops Fallback", [], 0, _rule("R51", 5, ("user", "PU2BOBB"))),
]
_POLICY = {p["id"]: p["name"] for p in POLICIES}


def _service(id: str, name: str, policy: str, teams: list[str],
             integrations: list[dict[str, Any]], urgency: str = "constant") -> dict[str, Any]:
    return {"id": id, "type": "service", "summary": name, "name": name, "status": "active",
            "escalation_policy": _ref("escalation_policy", policy, _POLICY[policy]),
            "teams": [_ref("team", t, _TEAM[t]) for t in teams], "integrations": integrations,
            "incident_urgency_rule": {"type": urgency, "urgency": "high"},
            "alert_creation": "create_alerts_and_incidents", "acknowledgement_timeout": None}


def _integration(id: str, kind: str, name: str, key: str | None) -> dict[str, Any]:
    found = {"id": id, "type": kind, "summary": name, "name": name}
    return found | ({"integration_key": key} if key else {"integration_email": "x@acme.pd.com"})


SERVICES = [
    _service("PSV1API", "Payments API", "PEP1PAY", ["PT1PAYM"], [
        _integration("PI1", "events_api_v2_inbound_integration", "Prometheus", KEYS["api"]),
        _integration("PI2", "generic_email_inbound_integration", "Email", None)]),
    _service("PSV2WEB", "Checkout Web", "PEP1PAY", ["PT1PAYM"], [
        _integration("PI3", "events_api_v2_inbound_integration", "Datadog", KEYS["checkout"])]),
    _service("PSV3BAT", "Payments Batch", "PEP4LOW", ["PT1PAYM"], [
        _integration("PI4", "events_api_v2_inbound_integration", "Cron", KEYS["batch"])]),
    _service("PSV4IDX", "Search Indexer", "PEP3SRC", ["PT3SRCH"], [
        _integration("PI5", "generic_events_api_inbound_integration", "Nagios", KEYS["search"])]),
    _service("PSV5CRN", "Legacy Cron", "PEP5OPS", [], [], urgency="use_support_hours"),
]


def _entry(start: str, end: str, user: str) -> dict[str, Any]:
    return {"start": start, "end": end, "user": _ref("user", user, _USER[user])}


# PagerDuty's final schedules for NOW .. NOW + 14 days, as it renders them (UTC, entries cut at
# the asked bounds). Berlin: 09:00 is 08:00Z until 2027-03-28 02:00, then 07:00Z.
FINAL = {
    "PS1PAYM": [
        _entry("2027-03-22T10:00:00Z", "2027-03-27T09:00:00Z", "PU5EVEE"),
        _entry("2027-03-27T09:00:00Z", "2027-03-28T08:00:00Z", "PU3CARO"),  # the override
        _entry("2027-03-28T08:00:00Z", "2027-03-29T07:00:00Z", "PU5EVEE"),
        _entry("2027-03-29T07:00:00Z", "2027-04-05T07:00:00Z", "PU1ALIC"),
        _entry("2027-04-05T07:00:00Z", "2027-04-05T10:00:00Z", "PU2BOBB"),
    ],
    "PS2PLAT": [
        _entry("2027-03-22T10:00:00Z", "2027-03-22T16:00:00Z", "PU4DANN"),
        _entry("2027-03-23T08:00:00Z", "2027-03-23T16:00:00Z", "PU4DANN"),
        _entry("2027-03-24T08:00:00Z", "2027-03-24T16:00:00Z", "PU4DANN"),
        _entry("2027-03-25T08:00:00Z", "2027-03-25T16:00:00Z", "PU4DANN"),
        _entry("2027-03-26T08:00:00Z", "2027-03-26T16:00:00Z", "PU4DANN"),
        _entry("2027-03-29T07:00:00Z", "2027-03-29T15:00:00Z", "PU3CARO"),
        _entry("2027-03-30T07:00:00Z", "2027-03-30T15:00:00Z", "PU3CARO"),
        _entry("2027-03-31T07:00:00Z", "2027-03-31T15:00:00Z", "PU3CARO"),
        _entry("2027-04-01T07:00:00Z", "2027-04-01T15:00:00Z", "PU3CARO"),
        _entry("2027-04-02T07:00:00Z", "2027-04-02T15:00:00Z", "PU3CARO"),
        _entry("2027-04-05T07:00:00Z", "2027-04-05T10:00:00Z", "PU4DANN"),
    ],
}

LISTS = {"users": USERS, "teams": TEAMS, "services": SERVICES,
         "escalation_policies": POLICIES, "schedules": SCHEDULES,
         "event_orchestrations": [{"id": "E1", "name": "Global", "routes": 3},
                                  {"id": "E2", "name": "Payments", "routes": 1}],
         "business_services": [{"id": "BS1", "name": "Checkout", "type": "business_service"}]}
_KEYS = {"event_orchestrations": "orchestrations"}  # the list's key when not the path


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class FakePagerDuty(LoopbackFake):
    def __init__(self, *, page_size: int = 2, schedules: list[str] | None = None) -> None:
        self.page_size = page_size
        self.schedules = [s for s in SCHEDULES if schedules is None or s["id"] in schedules]
        self.final = {k: list(v) for k, v in FINAL.items()}
        self.requests: list[str] = []  # "GET /users?limit=100&offset=0" ...
        self.limit_once: dict[str, int] = {}  # path -> ratelimit-reset seconds of one 429
        super().__init__()

    @property
    def api_url(self) -> str:
        return self.url

    def answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        parts = path.strip("/").split("/")
        lists = {**LISTS, "schedules": [_summary(s) for s in self.schedules]}
        if len(parts) == 1 and parts[0] in lists:
            return 200, _page(lists[parts[0]], _KEYS.get(parts[0], parts[0]), query,
                              self.page_size)
        schedule = next((s for s in self.schedules if len(parts) > 1 and s["id"] == parts[1]),
                        None)
        if parts[0] != "schedules" or schedule is None:
            return 404, {"error": {"message": "Not Found", "code": 2100}}
        if len(parts) == 3 and parts[2] == "overrides":
            since, until = _time(query["since"][0]), _time(query["until"][0])
            found = [o for o in OVERRIDES.get(schedule["id"], [])
                     if _time(o["end"]) > since and _time(o["start"]) < until]
            return 200, {"overrides": found}
        body = dict(schedule)
        if "since" in query and "until" in query:
            since, until = _time(query["since"][0]), _time(query["until"][0])
            entries = [
                {**e, "start": max(_time(e["start"]), since).isoformat().replace("+00:00", "Z"),
                 "end": min(_time(e["end"]), until).isoformat().replace("+00:00", "Z")}
                for e in self.final.get(schedule["id"], [])
                if _time(e["end"]) > since and _time(e["start"]) < until]
            body["final_schedule"] = {"name": "Final Schedule", "rendered_schedule_entries":
                                      entries, "rendered_coverage_percentage": 100.0}
        return 200, {"schedule": body}

    def _handler(self) -> type[JsonHandler]:
        fake = self

        class Handler(JsonHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                with fake.lock:
                    fake.requests.append(f"GET {self.path}")
                    wait = fake.limit_once.pop(url.path, None)
                if self.headers.get("Authorization") != f"Token token={TOKEN}":
                    return self.send_json(401, {"error": {"message": "Authentication failed",
                                                          "code": 2006}})
                if self.headers.get("Accept") != "application/vnd.pagerduty+json;version=2":
                    return self.send_json(406, {"error": {"message": "Not Acceptable"}})
                if wait is not None:
                    return self.send_json(429, {"error": {"message": "Rate Limit Exceeded",
                                                          "code": 2020}}, {
                        "ratelimit-limit": "960", "ratelimit-remaining": "0",
                        "ratelimit-reset": str(wait)})
                status, body = fake.answer(url.path, self.query())
                self.send_json(status, body)

        return Handler


def _summary(schedule: dict[str, Any]) -> dict[str, Any]:
    # The list shows a schedule without its layers; GET /schedules/{id} has them.
    return {k: v for k, v in schedule.items() if k != "schedule_layers"}


def _page(items: list[dict[str, Any]], key: str, query: dict[str, list[str]],
          page_size: int) -> dict[str, Any]:
    limit = min(int(query.get("limit", ["25"])[0]), page_size)
    offset = int(query.get("offset", ["0"])[0])
    chunk = items[offset:offset + limit]
    return {key: chunk, "limit": limit, "offset": offset,
            "more": offset + len(chunk) < len(items), "total": None}
