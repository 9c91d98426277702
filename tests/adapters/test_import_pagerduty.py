"""`firebell import pagerduty` against a fake of PagerDuty's REST API v2 on loopback: the mapping,
pagination, the rate limit, a refused key, the written catalog, and who is on call compared
with PagerDuty's own final schedule across the DST change of 2027-03-28."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from adapters.importing.common import Imported
from adapters.importing.pagerduty import PagerDutySource
from adapters.importing.pagerduty_layers import map_restrictions
from bot.catalog_writer import catalog_yaml
from storage.store import SqlStore
from tests.support.cli import run_firebell
from tests.support.intake_http import Http
from tests.support.pagerduty_fake import KEYS, NOW, TOKEN, FakePagerDuty
from tests.support.world import World
from workflows.catalog.load import parse_catalog
from workflows.oncall.compare import compare_schedule
from workflows.ports import ExternalServiceError

COMMAND = "firebell import pagerduty"
DAYS = timedelta(days=14)


@pytest.fixture
def fake() -> Iterator[FakePagerDuty]:
    server = FakePagerDuty().start()
    yield server
    server.stop()


@pytest.fixture
def exact() -> Iterator[FakePagerDuty]:
    """The account without its lossy schedule: what PagerDuty renders, Firebell computes."""
    server = FakePagerDuty(schedules=["PS1PAYM", "PS2PLAT"]).start()
    yield server
    server.stop()


def fetch(fake: FakePagerDuty, token: str = TOKEN) -> Imported:
    source = PagerDutySource(api_url=fake.api_url, token=token)
    try:
        return source.fetch(now=NOW)
    finally:
        source.close()


def by_id(items: list[dict], id: str) -> dict:
    return next(item for item in items if item["id"] == id)


def test_fetch_maps_people_teams_services_and_policies(fake: FakePagerDuty) -> None:
    imported = fetch(fake)
    c = imported.catalog
    assert list(c) == ["timezone", "people", "teams", "services", "schedules",
                       "escalation_policies", "intake"]
    assert c["timezone"] == "Europe/Berlin"
    assert [p["id"] for p in c["people"]] == ["alice", "bob", "carol", "dan", "eve"]
    assert by_id(c["people"], "alice") == {"id": "alice", "name": "Alice Archer",
                                           "email": "alice@example.com", "phone": "+491511234567",
                                           "timezone": "Europe/Berlin"}
    assert by_id(c["people"], "bob")["phone"] == "+491517654321"  # from the SMS method
    assert by_id(c["people"], "carol")["timezone"] == "America/New_York"
    assert "phone" not in by_id(c["people"], "dan")
    # Every service has a team: the one without gets one made, with the policy it uses.
    assert by_id(c["teams"], "legacy-cron") == {"id": "legacy-cron", "name": "Legacy Cron",
                                                "escalation_policy": "ops-fallback"}
    # Payments' services use two policies: the team keeps the most used, the other is noted.
    assert by_id(c["teams"], "payments")["escalation_policy"] == "payments-escalation"
    batch = c["services"].index(by_id(c["services"], "payments-batch"))
    assert "payments-low-urgency" in imported.comments[f"services[{batch}]"][0]
    assert any("payments-batch" in line and "payments-low-urgency" in line
               for line in imported.check_by_hand)
    # An event sent with a service's integration key routes to it (see the intake test below).
    assert by_id(c["services"], "payments-api")["match"] == {"integration":
                                                             "pagerduty-payments-api"}
    assert {"name": "pagerduty-payments-api", "token": KEYS["api"]} in c["intake"]["integrations"]
    assert "match" not in by_id(c["services"], "legacy-cron")
    assert by_id(c["escalation_policies"], "payments-escalation") == {
        "id": "payments-escalation", "name": "Payments Escalation", "repeat": 2, "steps": [
            {"notify": ["schedule:payments-primary"], "ack_timeout": "30m"},
            {"notify": ["person:carol", "schedule:platform-daytime"], "ack_timeout": "15m"}]}
    search = by_id(c["escalation_policies"], "search-escalation")
    assert search["repeat"] == 1 and len(search["steps"]) == 1  # the deleted user's rule left out
    unmapped = "\n".join(imported.unmapped)
    assert "event orchestrations: 2 not imported" in unmapped
    assert "business services: 1 not imported" in unmapped
    assert "integration 'Email' (generic_email_inbound_integration)" in unmapped
    assert "rulesets" in "\n".join(imported.check_by_hand)  # 404 here: said, not hidden
    assert imported.counts == {"people": 5, "teams": 4, "services": 5, "schedules": 3,
                               "escalation_policies": 5, "overrides": 1}
    assert imported.person_ids["PU3CARO"] == "carol"


def test_fetch_maps_schedules_layers_restrictions_and_overrides(fake: FakePagerDuty) -> None:
    imported = fetch(fake)
    schedules = imported.catalog["schedules"]
    assert by_id(schedules, "payments-primary") == {
        "id": "payments-primary", "team": "payments", "name": "Payments Primary",
        "timezone": "Europe/Berlin",
        "layers": [{"name": "Weekly", "every": "1w", "handoff": "Mon 09:00",
                    "start": "2027-01-04", "members": ["alice", "bob", "eve"]}],
        "overrides": [{"person": "carol", "start": "2027-03-27T10:00:00+01:00",
                       "end": "2027-03-28T10:00:00+02:00"}]}
    assert by_id(schedules, "platform-daytime")["layers"][0]["restrictions"] == {
        "days": "Mon-Fri", "hours": "09:00-17:00"}  # five weekly windows, one catalog window
    sun = by_id(schedules, "search-follow-the-sun")
    assert sun["team"] == "search"  # no team of its own: its escalation policy's
    # Bottom first; the layer that ended before now is not imported, and the report says so.
    assert [layer["name"] for layer in sun["layers"]] == ["Nights", "Follow the sun"]
    assert any("'Old layer': ended 2027-01-01" in line for line in imported.unmapped)
    nights, follow = sun["layers"]
    assert nights["restrictions"] == {"days": "Mon-Sun", "hours": "18:00-08:00"}
    assert follow["every"] == "12h" and follow["handoff"] == "08:00"
    assert follow["members"] == ["alice", "carol"]  # a user PagerDuty no longer has: left out
    assert follow["restrictions"] == {"days": "Mon-Fri", "hours": "00:00-24:00"}
    where = f"schedules[{schedules.index(sun)}]"
    assert "spans days" in " ".join(imported.comments[f"{where}.layers[1]"])
    assert "several windows" in " ".join(imported.comments[f"{where}.layers[0]"])
    assert "starts this layer 2027-04-01" in " ".join(imported.comments[f"{where}.layers[0]"])
    hand = "\n".join(imported.check_by_hand)
    assert "'Follow the sun': PagerDuty's window Mon from 09:00 for 4d8h spans days" in hand
    assert imported.schedule_ids == {"PS1PAYM": "payments-primary",
                                     "PS2PLAT": "platform-daytime",
                                     "PS3SRCH": "search-follow-the-sun"}


def test_every_list_is_read_page_by_page(fake: FakePagerDuty) -> None:
    imported = fetch(fake)
    users = [r for r in fake.requests if r.startswith("GET /users?")]
    assert [r.split("offset=")[1] for r in users] == ["0", "2", "4"]
    assert "include%5B%5D=contact_methods" in users[0]
    assert sum(r.startswith("GET /services?") for r in fake.requests) == 3
    assert sum(r.startswith("GET /escalation_policies?") for r in fake.requests) == 3
    assert len(imported.catalog["people"]) == 5 and len(imported.catalog["services"]) == 5


def test_the_written_catalog_passes_the_check_and_is_stable(fake: FakePagerDuty) -> None:
    first = catalog_yaml(fetch(fake), command=COMMAND)
    catalog = parse_catalog(first)
    assert catalog.service("payments-api").team == "payments"
    assert "# PagerDuty pages escalation policy 'payments-low-urgency'" in first
    fake.page_size = 100  # other pages, same account: the same bytes
    assert catalog_yaml(fetch(fake), command=COMMAND) == first


def test_a_rate_limit_is_waited_out_as_ratelimit_reset_says(fake: FakePagerDuty) -> None:
    fake.limit_once["/teams"] = 2  # PagerDuty: a 429 with `ratelimit-reset`, no Retry-After
    began = time.monotonic()
    imported = fetch(fake)
    assert time.monotonic() - began >= 1.9  # the header's 2 s, not the 1 s first backoff
    assert sum(r.startswith("GET /teams?") and "offset=0" in r for r in fake.requests) == 2
    assert len(imported.catalog["teams"]) == 4


def test_a_refused_key_is_one_clear_line(fake: FakePagerDuty) -> None:
    with pytest.raises(ExternalServiceError) as caught:
        fetch(fake, token="not-the-key")
    message = str(caught.value)
    assert "\n" not in message
    assert "PagerDuty refused the API key" in message and "401" in message
    assert "PAGERDUTY_API_TOKEN" in message
    assert len(fake.requests) == 1  # not retried


def test_an_event_sent_with_an_integration_key_routes_to_its_service(
        fake: FakePagerDuty, store: SqlStore, start_time: datetime) -> None:
    text = catalog_yaml(fetch(fake), command=COMMAND)
    http = Http(World.for_intake(store, start_time, catalog=text), token=None)
    event = {"routing_key": KEYS["batch"], "event_action": "trigger", "dedup_key": "batch-1",
             "payload": {"summary": "nightly batch failed", "source": "cron-1",
                         "severity": "critical"}}
    answer = http.post("/v2/enqueue", event, token=None)
    assert answer.status_code == 202, answer.text
    [incident] = http.world.incidents()
    assert incident.service == "payments-batch"


def _compare(fake: FakePagerDuty) -> dict[str, list]:
    source = PagerDutySource(api_url=fake.api_url, token=TOKEN)
    imported = source.fetch(now=NOW)
    said = source.final_shifts(imported, start=NOW, end=NOW + DAYS)
    source.close()
    catalog = parse_catalog(catalog_yaml(imported, command=COMMAND))
    results = {}
    for schedule in sorted(imported.schedule_ids.values()):
        result = compare_schedule(catalog, schedule=schedule, source=said, start=NOW,
                                  end=NOW + DAYS)
        assert result.shifts > 0
        results[schedule] = result.differences
    return results


def test_on_call_agrees_with_pagerduty_for_14_days_across_dst(exact: FakePagerDuty) -> None:
    # NOW is Monday 2027-03-22 (CET); Berlin moves to CEST on 2027-03-28; handoffs stay at 09:00.
    assert _compare(exact) == {"payments-primary": [], "platform-daytime": []}
    asked = [r for r in exact.requests if r.startswith("GET /schedules/PS1PAYM?")]
    assert "time_zone=UTC" in asked[0] and "since=2027-03-22T10" in asked[0]


def test_a_disagreement_is_listed(exact: FakePagerDuty) -> None:
    # PagerDuty says Bob covers the weekend that the override gives Carol.
    exact.final["PS1PAYM"][1] = {**exact.final["PS1PAYM"][1],
                                 "user": {"id": "PU2BOBB", "type": "user_reference",
                                          "summary": "Bob Baker"}}
    results = _compare(exact)
    assert results["platform-daytime"] == []
    [difference] = results["payments-primary"]
    assert (difference.source, difference.firebell) == (("bob",), ("carol",))
    assert difference.start == datetime.fromisoformat("2027-03-27T09:00:00+00:00")
    assert difference.end == datetime.fromisoformat("2027-03-28T08:00:00+00:00")


@pytest.mark.parametrize(("restrictions", "window", "exact"), [
    ([{"type": "daily_restriction", "start_time_of_day": "22:00:00", "duration_seconds": 28800}],
     {"days": "Mon-Sun", "hours": "22:00-06:00"}, True),
    ([{"type": "weekly_restriction", "start_day_of_week": 6, "start_time_of_day": "00:00:00",
       "duration_seconds": 2 * 86400}], {"days": "Sat-Sun", "hours": "00:00-24:00"}, True),
    ([{"type": "weekly_restriction", "start_day_of_week": 5, "start_time_of_day": "18:00:00",
       "duration_seconds": 63 * 3600}], {"days": "Fri-Mon", "hours": "00:00-24:00"}, False),
    ([{"type": "daily_restriction", "start_time_of_day": "00:00:00",
       "duration_seconds": 86400}], None, True),
])
def test_restrictions(restrictions: list[dict], window: dict | None, exact: bool) -> None:
    mapped, notes = map_restrictions(restrictions)
    assert mapped == window
    assert (notes == []) is exact


# The command line ------------------------------------------------------------------------------
def _env(fake: FakePagerDuty, path: Path) -> dict[str, str]:
    return {"PAGERDUTY_API_TOKEN": TOKEN, "PAGERDUTY_API_URL": fake.api_url,
            "FIREBELL_CONFIG": str(path)}


def test_cli_import_writes_a_catalog_that_config_check_passes(fake: FakePagerDuty,
                                                              tmp_path: Path) -> None:
    path = tmp_path / "firebell.yaml"
    env = _env(fake, path)
    result = run_firebell("import", "pagerduty", "--now", NOW.isoformat(), cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert "Imported from PagerDuty: 5 people" in result.stdout
    assert "event orchestrations: 2 not imported" in result.stdout
    assert "Check by hand" in result.stdout
    assert path.read_text(encoding="utf-8").startswith("# Firebell catalog imported from PagerDuty")
    check = run_firebell("config", "check", str(path), cwd=tmp_path, env=env)
    assert check.returncode == 0, check.stdout + check.stderr

    path.write_text("# mine\n", encoding="utf-8")
    again = run_firebell("import", "pagerduty", cwd=tmp_path, env=env)
    assert again.returncode != 0
    assert "exists" in again.stderr and "--force" in again.stderr
    assert path.read_text(encoding="utf-8") == "# mine\n"
    forced = run_firebell("import", "pagerduty", "--force", "--now", NOW.isoformat(),
                          cwd=tmp_path, env=env)
    assert forced.returncode == 0, forced.stderr
    assert "payments-primary" in path.read_text(encoding="utf-8")


def test_cli_compare_exit_status_and_differences(exact: FakePagerDuty, tmp_path: Path) -> None:
    path = tmp_path / "firebell.yaml"
    env = _env(exact, path)
    now = NOW.isoformat()
    assert run_firebell("import", "pagerduty", "--now", now, cwd=tmp_path,
                        env=env).returncode == 0
    agree = run_firebell("import", "pagerduty", "--compare", "--now", now, cwd=tmp_path, env=env)
    assert agree.returncode == 0, agree.stdout + agree.stderr
    assert "payments-primary: 5 shift(s) at PagerDuty, 5 agree, no difference" in agree.stdout
    assert "No difference" in agree.stdout

    exact.final["PS2PLAT"][5] = {**exact.final["PS2PLAT"][5],
                                 "end": "2027-03-29T16:00:00Z"}  # an hour past 17:00 CEST
    differ = run_firebell("import", "pagerduty", "--compare", "--now", now, cwd=tmp_path,
                          env=env)
    assert differ.returncode == 1
    assert ("Mon 2027-03-29 17:00 CEST – Mon 2027-03-29 18:00 CEST: PagerDuty says Carol Chen "
            "(carol); Firebell says nobody") in differ.stdout
    assert "1 difference(s)" in differ.stderr
