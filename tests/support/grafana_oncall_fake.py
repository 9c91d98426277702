"""A fake of Grafana OnCall's public HTTP API (`/api/v1/...`) on loopback, answering with the
JSON shapes of OnCall's API reference (users, teams, schedules, on_call_shifts,
escalation_chains, escalation_policies, integrations, routes, schedules/<id>/final_shifts).

Auth is OnCall's: `Authorization: <token>` (no scheme); a wrong token gets 401
`{"detail": "Invalid token."}`. Lists are paginated the DRF way (`count`, `next` as a full URL,
`previous`, `results`, `page_size`), `page_size` small so that tests cross pages; the first
request to a path in `rate_limit_once` gets a 429 with `Retry-After: 1`.

It also serves the calendars of iCal schedules (`/ical/<name>.ics`, no auth: a secret URL, as
OnCall's and Google's are); `{{API_URL}}` in a schedule's `ical_url_*` becomes the fake's URL.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

from tests.support.loopback import JsonHandler, LoopbackFake

TOKEN = "oncall-test-token-meowmeowmeow"
PAGE_SIZE = 2

USERS = [
    {"id": "UALICE0001", "grafana_id": 1, "email": "alice@example.com", "username": "alice",
     "role": "admin", "timezone": "Europe/Berlin", "teams": ["TPAYMENTS1"],
     "is_phone_number_verified": True,
     "slack": [{"user_id": "UALICESLACK", "team_id": "TSLACK"}]},
    {"id": "UBOB00002", "grafana_id": 2, "email": "bob@example.com", "username": "bob",
     "role": "user", "timezone": "Europe/Berlin", "teams": ["TPAYMENTS1"],
     "is_phone_number_verified": False, "slack": []},
    {"id": "UCAROL003", "grafana_id": 3, "email": "carol@example.com", "username": "carol",
     "role": "user", "timezone": "Europe/Berlin", "teams": ["TPAYMENTS1"],
     "is_phone_number_verified": True, "slack": []},
    {"id": "UDAVE0004", "grafana_id": 4, "email": "dave@example.com", "username": "dave",
     "role": "user", "timezone": "America/New_York", "teams": ["TDATABASE2"],
     "is_phone_number_verified": False, "slack": []},
    {"id": "UERIN0005", "grafana_id": 5, "email": "erin@example.com", "username": "erin",
     "role": "user", "timezone": None, "teams": [], "is_phone_number_verified": False,
     "slack": []},
]
TEAMS = [
    {"id": "TPAYMENTS1", "name": "Payments", "email": "payments@example.com",
     "avatar_url": "/avatar/1"},
    {"id": "TDATABASE2", "name": "Databases", "email": None, "avatar_url": "/avatar/2"},
]
# The rotation the compare tests check: weekly, Mon 09:00 in Berlin, across 2027-03-28 (DST).
PRIMARY = {"id": "SPRIMARY01", "name": "Payments Primary", "type": "web",
           "team_id": "TPAYMENTS1", "time_zone": "Europe/Berlin", "on_call_now": ["UBOB00002"],
           "shifts": ["OWEEKLY001", "OOVERRIDE2", "OOLDOVER03"],
           "slack": {"channel_id": None, "user_group_id": None}}
WEEKLY = {"id": "OWEEKLY001", "name": "Primary weekly", "type": "rolling_users",
          "team_id": "TPAYMENTS1", "time_zone": "Europe/Berlin", "level": 0,
          "start": "2027-01-04T09:00:00", "rotation_start": "2027-01-04T09:00:00",
          "duration": 604800, "frequency": "weekly", "interval": 1, "until": None,
          "week_start": "MO", "by_day": None, "by_month": None, "by_monthday": None,
          "rolling_users": [["UALICE0001"], ["UBOB00002"], ["UCAROL003"]],
          "start_rotation_from_user_index": 0}
OVERRIDE = {"id": "OOVERRIDE2", "name": "Dave covers Wednesday night", "type": "override",
            "team_id": "TPAYMENTS1", "time_zone": "Europe/Berlin",
            "start": "2027-03-24T18:00:00", "rotation_start": "2027-03-24T18:00:00",
            "duration": 15 * 3600, "users": ["UDAVE0004"]}
OLD_OVERRIDE = {"id": "OOLDOVER03", "name": "Long past", "type": "override",
                "team_id": "TPAYMENTS1", "time_zone": None, "start": "2027-02-01T00:00:00",
                "rotation_start": "2027-02-01T00:00:00", "duration": 3600,
                "users": ["UERIN0005"]}

# What OnCall's final_shifts answers for PRIMARY, written by hand: bob's week until Monday
# 22 March 09:00 CET (08:00Z), carol's, dave's override Wed 18:00 - Thu 09:00 CET, carol again,
# alice from Monday 29 March 09:00 CEST (07:00Z: the clocks went forward on the 28th).
PRIMARY_FINAL = [
    ("UBOB00002", "2027-03-15T08:00:00Z", "2027-03-22T08:00:00Z"),
    ("UCAROL003", "2027-03-22T08:00:00Z", "2027-03-24T17:00:00Z"),
    ("UDAVE0004", "2027-03-24T17:00:00Z", "2027-03-25T08:00:00Z"),
    ("UCAROL003", "2027-03-25T08:00:00Z", "2027-03-29T07:00:00Z"),
    ("UALICE0001", "2027-03-29T07:00:00Z", "2027-04-05T07:00:00Z"),
    ("UBOB00002", "2027-04-05T07:00:00Z", "2027-04-12T07:00:00Z"),
]

MORE_SCHEDULES = [
    {"id": "SDAYTIME02", "name": "Payments Daytime", "type": "calendar",
     "team_id": "TPAYMENTS1", "time_zone": "Europe/Berlin", "on_call_now": [],
     "shifts": ["ODAILY0004", "OPAIR00005"], "ical_url_overrides": None,
     "slack": {"channel_id": None, "user_group_id": None}},
    {"id": "SDBICAL003", "name": "DB iCal", "type": "ical", "team_id": None,
     "ical_url_primary": "{{API_URL}}/ical/db.ics",
     "ical_url_overrides": "{{API_URL}}/ical/db-overrides.ics",
     "on_call_now": [], "slack": {"channel_id": None, "user_group_id": None}},
    {"id": "SDBUTC0004", "name": "Databases", "type": "calendar", "team_id": "TDATABASE2",
     "time_zone": "Europe/Berlin", "on_call_now": [], "shifts": ["OUTCDAY006"],
     "ical_url_overrides": None, "slack": {"channel_id": None, "user_group_id": None}},
]
MORE_SHIFTS = [
    {"id": "ODAILY0004", "name": "Office hours", "type": "rolling_users",
     "team_id": "TPAYMENTS1", "time_zone": "Europe/Berlin", "level": 0,
     "start": "2027-01-04T09:00:00", "rotation_start": "2027-01-04T09:00:00",
     "duration": 8 * 3600, "frequency": "daily", "interval": 1, "until": None,
     "by_day": ["MO", "TU", "WE", "TH", "FR"], "by_month": None, "by_monthday": None,
     "rolling_users": [["UERIN0005"], ["UDAVE0004"]], "start_rotation_from_user_index": 1},
    {"id": "OPAIR00005", "name": "Pair on Fridays", "type": "recurrent_event",
     "team_id": "TPAYMENTS1", "time_zone": "Europe/Berlin", "level": 1,
     "start": "2027-01-08T12:00:00", "rotation_start": "2027-01-08T12:00:00",
     "duration": 4 * 3600, "frequency": "weekly", "interval": 1, "until": "2027-12-31T00:00:00",
     "week_start": "MO", "by_day": ["FR"], "by_month": None, "by_monthday": None,
     "users": ["UALICE0001", "UBOB00002"]},
    {"id": "OUTCDAY006", "name": "DB daily", "type": "rolling_users", "team_id": "TDATABASE2",
     "time_zone": None, "level": 0, "start": "2027-01-01T06:00:00",
     "rotation_start": "2027-01-01T06:00:00", "duration": 2 * 86400, "frequency": "daily",
     "interval": 2, "until": None, "by_day": None, "by_month": None, "by_monthday": None,
     "rolling_users": [["UDAVE0004"], ["UERIN0005"]], "start_rotation_from_user_index": 0},
]
# The iCal schedule's calendars, as Google Calendar exports them. A two-week cycle, Mondays
# 10:00 Berlin time: dave (by username), then erin (by email); dave's week of 29 March (the
# first after the DST change of the 28th) is taken out (EXDATE) and given to carol, who is
# named by the event's ATTENDEE (its SUMMARY names nobody); zoe is nobody OnCall knows.
_BERLIN = """BEGIN:VTIMEZONE\r
TZID:Europe/Berlin\r
X-LIC-LOCATION:Europe/Berlin\r
BEGIN:DAYLIGHT\r
TZOFFSETFROM:+0100\r
TZOFFSETTO:+0200\r
TZNAME:CEST\r
DTSTART:19700329T020000\r
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r
END:DAYLIGHT\r
BEGIN:STANDARD\r
TZOFFSETFROM:+0200\r
TZOFFSETTO:+0100\r
TZNAME:CET\r
DTSTART:19701025T030000\r
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r
END:STANDARD\r
END:VTIMEZONE\r
"""
_HEAD = ("BEGIN:VCALENDAR\r\nPRODID:-//Google Inc//Google Calendar 70.9054//EN\r\n"
         "VERSION:2.0\r\nCALSCALE:GREGORIAN\r\nMETHOD:PUBLISH\r\nX-WR-CALNAME:{name}\r\n"
         "X-WR-TIMEZONE:Europe/Berlin\r\n" + _BERLIN)
DB_ICS = _HEAD.format(name="DB on-call") + """BEGIN:VEVENT\r
DTSTART;TZID=Europe/Berlin:20270301T100000\r
DTEND;TZID=Europe/Berlin:20270308T100000\r
RRULE:FREQ=WEEKLY;INTERVAL=2\r
EXDATE;TZID=Europe/Berlin:20270329T100000\r
DTSTAMP:20270101T000000Z\r
UID:db-dave-2027@google.com\r
SUMMARY:dave\r
END:VEVENT\r
BEGIN:VEVENT\r
DTSTART;TZID=Europe/Berlin:20270308T100000\r
DTEND;TZID=Europe/Berlin:20270315T100000\r
RRULE:FREQ=WEEKLY;INTERVAL=2\r
DTSTAMP:20270101T000000Z\r
UID:db-erin-2027@google.com\r
SUMMARY:erin@example.com\r
END:VEVENT\r
BEGIN:VEVENT\r
DTSTART;TZID=Europe/Berlin:20270329T100000\r
DTEND;TZID=Europe/Berlin:20270405T100000\r
DTSTAMP:20270101T000000Z\r
UID:db-swap-0329@google.com\r
ATTENDEE;CN=Carol;PARTSTAT=ACCEPTED:mailto:carol@example.com\r
SUMMARY:[L1] Swap: carol takes the week of 29 March\r
END:VEVENT\r
BEGIN:VEVENT\r
DTSTART;TZID=Europe/Berlin:20270410T100000\r
DTEND;TZID=Europe/Berlin:20270411T100000\r
DTSTAMP:20270101T000000Z\r
UID:db-zoe-0410@google.com\r
SUMMARY:zoe\r
END:VEVENT\r
END:VCALENDAR\r
"""
# The overrides calendar: bob covers Wednesday night, 24 March 18:00 to 09:00.
DB_OVERRIDES_ICS = _HEAD.format(name="DB overrides") + """BEGIN:VEVENT\r
DTSTART;TZID=Europe/Berlin:20270324T180000\r
DTEND;TZID=Europe/Berlin:20270325T090000\r
DTSTAMP:20270101T000000Z\r
UID:db-bob-0324@google.com\r
SUMMARY:bob\r
END:VEVENT\r
END:VCALENDAR\r
"""
CALENDARS = {"/ical/db.ics": DB_ICS, "/ical/db-overrides.ics": DB_OVERRIDES_ICS}
# What OnCall's final_shifts answers for the iCal schedule, by hand: dave's week to Monday 22
# March 10:00 CET (09:00Z), erin's, bob's override Wed 18:00 - Thu 09:00 CET, erin again to
# Monday 29 March 10:00 CEST (08:00Z: the clocks went forward), carol's swapped week.
DB_ICAL_FINAL = [
    ("UDAVE0004", "2027-03-15T09:00:00Z", "2027-03-22T09:00:00Z"),
    ("UERIN0005", "2027-03-22T09:00:00Z", "2027-03-24T17:00:00Z"),
    ("UBOB00002", "2027-03-24T17:00:00Z", "2027-03-25T08:00:00Z"),
    ("UERIN0005", "2027-03-25T08:00:00Z", "2027-03-29T08:00:00Z"),
    ("UCAROL003", "2027-03-29T08:00:00Z", "2027-04-05T08:00:00Z"),
]

CHAINS = [
    {"id": "FPAYMENTS1", "name": "Payments default", "team_id": "TPAYMENTS1"},
    {"id": "FDATABASE2", "name": "Databases", "team_id": "TDATABASE2"},
]
POLICIES = [
    {"id": "E1", "escalation_chain_id": "FPAYMENTS1", "position": 0,
     "type": "notify_on_call_from_schedule", "important": False,
     "notify_on_call_from_schedule": "SPRIMARY01"},
    {"id": "E2", "escalation_chain_id": "FPAYMENTS1", "position": 1, "type": "wait",
     "duration": 300},
    {"id": "E3", "escalation_chain_id": "FPAYMENTS1", "position": 2, "type": "notify_persons",
     "important": True, "persons_to_notify": ["UERIN0005"]},
    {"id": "E4", "escalation_chain_id": "FPAYMENTS1", "position": 3, "type": "wait",
     "duration": 900},
    {"id": "E5", "escalation_chain_id": "FPAYMENTS1", "position": 4,
     "type": "notify_whole_channel"},
    {"id": "E6", "escalation_chain_id": "FPAYMENTS1", "position": 5,
     "type": "repeat_escalation"},
    {"id": "E7", "escalation_chain_id": "FDATABASE2", "position": 0,
     "type": "notify_person_next_each_time",
     "persons_to_notify_next_each_time": ["UCAROL003", "UDAVE0004"]},
    {"id": "E8", "escalation_chain_id": "FDATABASE2", "position": 1, "type": "wait",
     "duration": 1800},
    {"id": "E9", "escalation_chain_id": "FDATABASE2", "position": 2,
     "type": "notify_user_group", "important": False, "group_to_notify": "GDBAS00001"},
    {"id": "E10", "escalation_chain_id": "FDATABASE2", "position": 3, "type": "resolve"},
]
INTEGRATIONS = [
    {"id": "CALERTMGR1", "name": "Alertmanager Payments", "team_id": "TPAYMENTS1",
     "link": "{{API_URL}}/integrations/v1/alertmanager/mReAoNwDm0eMwKo1mTeTwYo/",
     "inbound_email": None, "type": "alertmanager",
     "default_route": {"id": "RDEFAULT01", "escalation_chain_id": "FPAYMENTS1",
                       "slack": {"channel_id": None}},
     "templates": {"grouping_key": None, "resolve_signal": None}},
    {"id": "CGRAFANA02", "name": "Grafana DB", "team_id": None,
     "link": "{{API_URL}}/integrations/v1/grafana_alerting/aBcD/",
     "inbound_email": None, "type": "grafana_alerting",
     "default_route": {"id": "RDEFAULT02", "escalation_chain_id": "FDATABASE2",
                       "slack": {"channel_id": None}},
     "templates": {"grouping_key": None, "resolve_signal": None}},
]
ROUTES = [
    {"id": "RCHECKOUT1", "integration_id": "CALERTMGR1", "escalation_chain_id": "FPAYMENTS1",
     "routing_type": "regex", "routing_regex": '"service": "checkout"', "position": 0,
     "is_the_last_route": False, "slack": {"channel_id": None}},
    {"id": "RBILLING02", "integration_id": "CALERTMGR1", "escalation_chain_id": "FDATABASE2",
     "routing_type": "jinja2",
     "routing_regex": '{{ payload.commonLabels.service == "billing" }}', "position": 1,
     "is_the_last_route": False, "slack": {"channel_id": None}},
    {"id": "RDEFAULT01", "integration_id": "CALERTMGR1", "escalation_chain_id": "FPAYMENTS1",
     "routing_type": "regex", "routing_regex": ".*", "position": 2, "is_the_last_route": True,
     "slack": {"channel_id": None}},
    {"id": "RUSEAST003", "integration_id": "CGRAFANA02", "escalation_chain_id": "FDATABASE2",
     "routing_type": "regex", "routing_regex": "us-(east|west)", "position": 0,
     "is_the_last_route": False, "slack": {"channel_id": None}},
    {"id": "RDEFAULT02", "integration_id": "CGRAFANA02", "escalation_chain_id": "FDATABASE2",
     "routing_type": "regex", "routing_regex": ".*", "position": 1, "is_the_last_route": True,
     "slack": {"channel_id": None}},
]


def full_world() -> dict[str, Any]:
    """An organisation with every kind of thing the importer maps."""
    return {
        "users": USERS, "teams": TEAMS, "schedules": [PRIMARY, *MORE_SCHEDULES],
        "on_call_shifts": [WEEKLY, OVERRIDE, OLD_OVERRIDE, *MORE_SHIFTS],
        "escalation_chains": CHAINS, "escalation_policies": POLICIES,
        "integrations": INTEGRATIONS, "routes": ROUTES,
        "final_shifts": {"SPRIMARY01": PRIMARY_FINAL, "SDBICAL003": DB_ICAL_FINAL},
        "calendars": CALENDARS,
    }


def primary_only_world() -> dict[str, Any]:
    """Only the Payments Primary schedule (and its people), for comparing on-call answers."""
    return {
        "users": USERS, "teams": TEAMS[:1], "schedules": [PRIMARY],
        "on_call_shifts": [WEEKLY, OVERRIDE, OLD_OVERRIDE], "escalation_chains": [],
        "escalation_policies": [], "integrations": [], "routes": [],
        "final_shifts": {"SPRIMARY01": PRIMARY_FINAL},
    }


def ical_only_world() -> dict[str, Any]:
    """Only the DB iCal schedule (and the people), for comparing on-call answers."""
    return {
        "users": USERS, "teams": [], "schedules": [MORE_SCHEDULES[1]], "on_call_shifts": [],
        "escalation_chains": [], "escalation_policies": [], "integrations": [], "routes": [],
        "final_shifts": {"SDBICAL003": DB_ICAL_FINAL}, "calendars": CALENDARS,
    }


class FakeGrafanaOnCall(LoopbackFake):
    def __init__(self, world: dict[str, Any] | None = None, *,
                 rate_limit_once: tuple[str, ...] = ()) -> None:
        self.world = copy.deepcopy(world if world is not None else full_world())
        self.rate_limit_once = set(rate_limit_once)
        self.requests: list[str] = []  # path?query of every request, in order
        self.calendar_requests: list[tuple[str, str | None]] = []  # (path, Authorization)
        super().__init__()
        for schedule in self.world["schedules"]:
            for key in ("ical_url_primary", "ical_url_overrides"):
                if schedule.get(key):
                    schedule[key] = schedule[key].replace("{{API_URL}}", self.api_url)

    @property
    def api_url(self) -> str:
        """The OnCall base URL (what GRAFANA_ONCALL_API_URL holds); the API is under /api/v1/."""
        return self.url

    def set_final_shift(self, schedule: str, index: int, *, user: str, start: str, end: str
                        ) -> None:
        with self.lock:
            self.world["final_shifts"][schedule][index] = (user, start, end)

    def _answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        parts = [p for p in path.removeprefix("/api/v1/").split("/") if p]
        one = {k: v[0] for k, v in query.items()}
        page = int(one.pop("page", "1"))
        if len(parts) == 3 and parts[0] == "schedules" and parts[2] == "final_shifts":
            if "start_date" not in one or "end_date" not in one:
                return 400, {"detail": "start_date and end_date are required"}
            since = datetime.fromisoformat(one["start_date"]).replace(tzinfo=UTC)
            until = datetime.fromisoformat(one["end_date"]).replace(tzinfo=UTC) + timedelta(1)
            users = {u["id"]: u for u in self.world["users"]}
            items = [
                {"user_pk": who, "user_email": users[who]["email"],
                 "user_username": users[who]["username"], "shift_start": a, "shift_end": b}
                for who, a, b in self.world["final_shifts"].get(parts[1], [])
                if _at(a) < until and _at(b) > since
            ]
            return 200, self._page(path, one, items, page)
        if len(parts) != 1 or parts[0] not in self.world or \
                parts[0] in ("final_shifts", "calendars"):
            return 404, {"detail": "Not found."}
        items = self.world[parts[0]]
        if parts[0] == "escalation_policies" and "escalation_chain_id" in one:
            items = [p for p in items if p["escalation_chain_id"] == one["escalation_chain_id"]]
        if parts[0] == "routes" and "integration_id" in one:
            items = [r for r in items if r["integration_id"] == one["integration_id"]]
        return 200, self._page(path, one, items, page)

    def _page(self, path: str, query: dict[str, str], items: list[Any], page: int
              ) -> dict[str, Any]:
        chunk = items[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
        pages = max(1, -(-len(items) // PAGE_SIZE))

        def link(number: int) -> str | None:
            if not 1 <= number <= pages:
                return None
            return f"{self.api_url}{path}?{urlencode({**query, 'page': number})}"

        return {"count": len(items), "next": link(page + 1), "previous": link(page - 1),
                "results": chunk, "current_page_number": page, "page_size": PAGE_SIZE,
                "total_pages": pages}

    def _handler(self) -> type[JsonHandler]:
        fake = self

        class Handler(JsonHandler):
            def _send_calendar(self, text: str | None) -> None:
                if text is None:
                    self.send_body(404, b"Not found", "text/plain")
                else:
                    self.send_body(200, text.encode(), "text/calendar; charset=utf-8")

            def do_GET(self) -> None:  # noqa: N802
                url = urlsplit(self.path)
                with fake.lock:
                    fake.requests.append(self.path)
                    if url.path.startswith("/ical/"):
                        fake.calendar_requests.append((url.path,
                                                       self.headers.get("Authorization")))
                        text = fake.world.get("calendars", {}).get(url.path)
                        self._send_calendar(text)
                        return
                    if self.headers.get("Authorization") != TOKEN:
                        self.send_json(401, {"detail": "Invalid token."})
                        return
                    if url.path in fake.rate_limit_once:
                        fake.rate_limit_once.discard(url.path)
                        self.send_json(429, {"detail": "Request was throttled."},
                                       {"Retry-After": "1"})
                        return
                    status, body = fake._answer(url.path, self.query())
                self.send_json(status, body)

        return Handler


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
