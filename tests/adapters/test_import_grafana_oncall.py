"""`firebell import grafana-oncall` against a fake of OnCall's public API on loopback: the
mapping of users, teams, schedules (rotations, overrides, iCal), escalation chains and
integrations; DRF pagination and a 429; a refused token; and --compare, which must agree with
OnCall's own final shifts (written by hand) for 14 days across the DST change of 2027-03-28."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.importing.grafana_oncall import GrafanaOnCallSource
from bot.catalog_writer import catalog_yaml
from tests.support.cli import run_firebell
from tests.support.grafana_oncall_fake import (
    TOKEN,
    FakeGrafanaOnCall,
    full_world,
    ical_only_world,
    primary_only_world,
)
from workflows.catalog.load import parse_catalog
from workflows.oncall.compare import compare_schedule
from workflows.oncall.schedules import on_call
from workflows.ports import ExternalServiceError

NOW = datetime(2027, 3, 20, 12, 0, tzinfo=UTC)  # a Saturday, a week before Berlin's DST change
COMMAND = "firebell import grafana-oncall"


@pytest.fixture
def oncall() -> Iterator[FakeGrafanaOnCall]:
    fake = FakeGrafanaOnCall(full_world(), rate_limit_once=("/api/v1/schedules/",)).start()
    yield fake
    fake.stop()


@pytest.fixture
def primary() -> Iterator[FakeGrafanaOnCall]:
    fake = FakeGrafanaOnCall(primary_only_world()).start()
    yield fake
    fake.stop()


def _source(fake: FakeGrafanaOnCall, token: str = TOKEN) -> GrafanaOnCallSource:
    return GrafanaOnCallSource(api_url=fake.api_url, token=token)


def _by_id(items: list[dict]) -> dict[str, dict]:
    return {item["id"]: item for item in items}


def test_fetch_maps_people_teams_schedules_policies_and_services(oncall: FakeGrafanaOnCall
                                                                  ) -> None:
    imported = _source(oncall).fetch(now=NOW)
    catalog = imported.catalog
    assert list(catalog) == ["timezone", "people", "teams", "services", "schedules",
                             "escalation_policies"]
    assert catalog["timezone"] == "Europe/Berlin"
    people = _by_id(catalog["people"])
    assert people["alice"] == {"id": "alice", "name": "alice", "email": "alice@example.com",
                               "timezone": "Europe/Berlin"}
    assert "timezone" not in people["erin"] and "phone" not in people["alice"]
    assert imported.person_ids["UDAVE0004"] == "dave"
    # No phone in OnCall's public API: everyone is to be checked by hand.
    assert any(line.startswith("phone numbers:") and "alice, bob, carol, dave, erin" in line
               for line in imported.check_by_hand)

    teams = _by_id(catalog["teams"])
    assert teams["payments"]["escalation_policy"] == "payments-default"  # 2 of its 3 routes
    assert teams["no-team"]["escalation_policy"] == "databases"
    services = _by_id(catalog["services"])
    assert services["alertmanager-payments-checkout"]["match"] == {"service": "checkout"}
    assert services["alertmanager-payments-billing"]["match"] == {"service": "billing"}
    assert "match" not in services["alertmanager-payments"]  # the default route
    assert services["grafana-db"]["team"] == "no-team"
    assert "match" not in services["grafana-db-route-1"]  # us-(east|west): not a label

    schedules = _by_id(catalog["schedules"])
    assert imported.schedule_ids["SPRIMARY01"] == "payments-primary"
    assert schedules["payments-primary"]["layers"] == [{
        "name": "Primary weekly", "every": "1w", "handoff": "Mon 09:00", "start": "2027-01-04",
        "members": ["alice", "bob", "carol"]}]
    # The override from now on; the one of February is over.
    assert schedules["payments-primary"]["overrides"] == [
        {"person": "dave", "start": "2027-03-24T18:00:00+01:00",
         "end": "2027-03-25T09:00:00+01:00"}]
    daytime = schedules["payments-daytime"]["layers"]
    assert daytime[0] == {"name": "Office hours", "every": "1d", "handoff": "09:00",
                          "start": "2027-01-04", "members": ["dave", "erin"],
                          "restrictions": {"days": "Mon-Fri", "hours": "09:00-17:00"}}
    assert daytime[1]["name"] == "Pair on Fridays"  # level 1: the later layer wins
    assert daytime[1]["restrictions"] == {"days": "Fri", "hours": "12:00-16:00"}
    # Rotations without a time zone run in UTC at OnCall: so they do here, and it is said.
    assert schedules["databases"]["timezone"] == "UTC"
    assert schedules["databases"]["layers"][0]["every"] == "2d"
    assert schedules["db-ical"]["layers"] == []
    assert any("iCal" in line and "db.ics" in line for line in imported.unmapped)

    policies = _by_id(catalog["escalation_policies"])
    assert policies["payments-default"]["repeat"] == 5
    assert policies["payments-default"]["steps"] == [
        {"notify": ["schedule:payments-primary"], "ack_timeout": "5m"},
        {"notify": ["person:erin"], "ack_timeout": "15m"}]
    assert policies["databases"]["steps"] == [
        {"notify": ["person:carol", "person:dave"], "ack_timeout": "30m"}]


def test_notify_whole_channel_and_other_steps_without_equivalent_are_reported(
        oncall: FakeGrafanaOnCall) -> None:
    imported = _source(oncall).fetch(now=NOW)
    assert [line for line in imported.unmapped if "whole Slack channel" in line] == [
        "escalation chain 'Payments default' step 5 'notify whole Slack channel': no "
        "equivalent (Firebell pages people; the team's channel hears of the incident anyway), "
        "skipped"]
    assert any("'Databases' step 4 'resolve incident automatically'" in line
               for line in imported.unmapped)
    index = [p["id"] for p in imported.catalog["escalation_policies"]].index("payments-default")
    assert any("notify whole Slack channel" in line
               for line in imported.comments[f"escalation_policies[{index}]"])


def test_the_written_catalog_passes_the_check_and_is_stable(oncall: FakeGrafanaOnCall) -> None:
    first = catalog_yaml(_source(oncall).fetch(now=NOW), command=COMMAND)
    catalog = parse_catalog(first)
    assert catalog.schedule("payments-primary").overrides[0].person == "dave"
    assert "# OnCall reads this schedule from iCal" in first  # the notes are comments
    second = catalog_yaml(_source(oncall).fetch(now=NOW), command=COMMAND)
    assert second == first


def test_pages_are_followed_and_a_429_is_waited_out(oncall: FakeGrafanaOnCall) -> None:
    imported = _source(oncall).fetch(now=NOW)
    assert len(imported.catalog["people"]) == 5  # 3 pages of 2
    assert [r for r in oncall.requests if r.startswith("/api/v1/users/")] == [
        "/api/v1/users/", "/api/v1/users/?page=2", "/api/v1/users/?page=3"]
    assert oncall.requests.count("/api/v1/schedules/") == 2  # the 429, then the answer
    assert len(imported.catalog["schedules"]) == 4


def test_a_refused_token_is_one_line_naming_the_setting(oncall: FakeGrafanaOnCall) -> None:
    with pytest.raises(ExternalServiceError) as caught:
        _source(oncall, token="wrong").fetch(now=NOW)
    message = str(caught.value)
    assert "\n" not in message
    assert "refused the API token (401" in message and "GRAFANA_ONCALL_API_TOKEN" in message
    assert not caught.value.retryable


def test_firebell_agrees_with_oncall_for_14_days_across_dst(primary: FakeGrafanaOnCall) -> None:
    source = _source(primary)
    imported = source.fetch(now=NOW)
    catalog = parse_catalog(catalog_yaml(imported, command=COMMAND))
    end = NOW + timedelta(days=14)
    said = source.final_shifts(imported, start=NOW, end=end)
    assert [(s.person, s.start) for s in said] == [
        ("bob", NOW),  # clipped to the period
        ("carol", datetime(2027, 3, 22, 8, tzinfo=UTC)),
        ("dave", datetime(2027, 3, 24, 17, tzinfo=UTC)),
        ("carol", datetime(2027, 3, 25, 8, tzinfo=UTC)),
        ("alice", datetime(2027, 3, 29, 7, tzinfo=UTC)),  # 09:00 CEST
    ]
    assert said[-1].end == end
    result = compare_schedule(catalog, schedule="payments-primary", source=said, start=NOW,
                              end=end)
    assert result.differences == []
    assert (result.shifts, result.agreeing) == (5, 5)


def test_a_shift_oncall_answers_differently_is_listed(primary: FakeGrafanaOnCall) -> None:
    # OnCall says carol's week ran to 08:00Z on the 29th, as if it had ignored the DST change.
    primary.set_final_shift("SPRIMARY01", 3, user="UCAROL003", start="2027-03-25T08:00:00Z",
                            end="2027-03-29T08:00:00Z")
    primary.set_final_shift("SPRIMARY01", 4, user="UALICE0001", start="2027-03-29T08:00:00Z",
                            end="2027-04-05T07:00:00Z")
    source = _source(primary)
    imported = source.fetch(now=NOW)
    catalog = parse_catalog(catalog_yaml(imported, command=COMMAND))
    end = NOW + timedelta(days=14)
    result = compare_schedule(catalog, schedule="payments-primary",
                              source=source.final_shifts(imported, start=NOW, end=end),
                              start=NOW, end=end)
    assert [(d.start, d.end, d.source, d.firebell) for d in result.differences] == [
        (datetime(2027, 3, 29, 7, tzinfo=UTC), datetime(2027, 3, 29, 8, tzinfo=UTC),
         ("carol",), ("alice",))]


# The command line, as a person runs it.

def _env(fake: FakeGrafanaOnCall, tmp_path: Path, token: str = TOKEN) -> dict[str, str]:
    return {"GRAFANA_ONCALL_API_URL": fake.api_url, "GRAFANA_ONCALL_API_TOKEN": token,
            "FIREBELL_CONFIG": str(tmp_path / "firebell.yaml"),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'firebell.db'}"}


def test_import_writes_a_catalog_that_config_check_accepts(oncall: FakeGrafanaOnCall,
                                                            tmp_path: Path) -> None:
    env = _env(oncall, tmp_path)
    out = tmp_path / "imported.yaml"
    result = run_firebell("import", "grafana-oncall", "--output", str(out),
                          "--now", NOW.isoformat(), cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert "Imported from Grafana OnCall: 5 people, 3 teams, 5 services, 4 schedules, " \
           "2 escalation policies." in result.stdout
    assert "notify whole Slack channel" in result.stdout
    assert "phone numbers:" in result.stdout
    text = out.read_text(encoding="utf-8")
    assert parse_catalog(text).schedule("payments-primary").all_layers[0].members == [
        "alice", "bob", "carol"]
    check = run_firebell("config", "check", str(out), cwd=tmp_path, env=env)
    assert check.returncode == 0, check.stdout + check.stderr

    again = run_firebell("import", "grafana-oncall", "--output", str(out),
                         "--now", NOW.isoformat(), cwd=tmp_path, env=env)
    assert again.returncode == 1
    assert "exists: give --force" in again.stderr
    assert out.read_text(encoding="utf-8") == text
    forced = run_firebell("import", "grafana-oncall", "--output", str(out), "--force",
                          "--now", NOW.isoformat(), cwd=tmp_path, env=env)
    assert forced.returncode == 0, forced.stderr
    assert out.read_text(encoding="utf-8") == text  # the same source, the same bytes


def test_import_with_a_wrong_token_is_one_error_line(oncall: FakeGrafanaOnCall,
                                                     tmp_path: Path) -> None:
    result = run_firebell("import", "grafana-oncall", "--now", NOW.isoformat(), cwd=tmp_path,
                          env=_env(oncall, tmp_path, token="wrong"))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "GRAFANA_ONCALL_API_TOKEN" in result.stderr
    assert not (tmp_path / "firebell.yaml").exists()


def test_compare_on_the_command_line(primary: FakeGrafanaOnCall, tmp_path: Path) -> None:
    env = _env(primary, tmp_path)
    out = str(tmp_path / "firebell.yaml")
    made = run_firebell("import", "grafana-oncall", "--now", NOW.isoformat(), cwd=tmp_path,
                        env=env)
    assert made.returncode == 0, made.stderr
    same = run_firebell("import", "grafana-oncall", "--compare", "--output", out,
                        "--now", NOW.isoformat(), cwd=tmp_path, env=env)
    assert same.returncode == 0, same.stdout + same.stderr
    assert "payments-primary: 5 shift(s) at Grafana OnCall, 5 agree, no difference" in same.stdout

    primary.set_final_shift("SPRIMARY01", 4, user="UBOB00002", start="2027-03-29T07:00:00Z",
                            end="2027-04-05T07:00:00Z")
    differs = run_firebell("import", "grafana-oncall", "--compare", "--output", out,
                           "--now", NOW.isoformat(), cwd=tmp_path, env=env)
    assert differs.returncode == 1
    assert ("Mon 2027-03-29 09:00 CEST – Sat 2027-04-03 14:00 CEST: Grafana OnCall says bob; "
            "Firebell says alice") in differs.stdout  # their names are their ids
    assert "1 difference(s)" in differs.stderr


# iCal schedules: the calendars are fetched and read.

@pytest.fixture
def ical() -> Iterator[FakeGrafanaOnCall]:
    fake = FakeGrafanaOnCall(ical_only_world()).start()
    yield fake
    fake.stop()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_ical_events_become_overrides_for_90_days_dst_and_exdate_included(
        ical: FakeGrafanaOnCall) -> None:
    imported = _source(ical).fetch(now=NOW)
    text = catalog_yaml(imported, command=COMMAND)
    schedule = _by_id(imported.catalog["schedules"])["db-ical"]
    assert list(schedule) == ["id", "team", "name", "timezone", "layers", "overrides"]
    assert (schedule["timezone"], schedule["layers"]) == ("Europe/Berlin", [])
    overrides = [(o["person"], o["start"], o["end"]) for o in schedule["overrides"]]
    assert overrides[:3] == [
        ("dave", "2027-03-15T10:00:00+01:00", "2027-03-22T10:00:00+01:00"),  # running now
        # Across the DST change: 10:00 local at both ends, so the week is an hour short.
        ("erin", "2027-03-22T10:00:00+01:00", "2027-03-29T10:00:00+02:00"),
        # dave's week of 29 March is an EXDATE: none here.
        ("erin", "2027-04-05T10:00:00+02:00", "2027-04-12T10:00:00+02:00"),
    ]
    # 90 days from 20 March: the last week starting before 18 June is in, none after.
    assert overrides[12] == ("erin", "2027-06-14T10:00:00+02:00", "2027-06-21T10:00:00+02:00")
    # Then the [L1] event (named by its ATTENDEE), then the overrides calendar: later wins.
    assert overrides[13:] == [
        ("carol", "2027-03-29T10:00:00+02:00", "2027-04-05T10:00:00+02:00"),
        ("bob", "2027-03-24T18:00:00+01:00", "2027-03-25T09:00:00+01:00")]
    assert [p for p, _, _ in overrides].count("dave") == 6
    assert [line for line in imported.unmapped if "zoe" in line] == [
        f"schedule 'DB iCal': iCal event 'zoe' in {ical.api_url}/ical/db.ics names nobody "
        "OnCall knows (by username or email): not imported"]
    index = [s["id"] for s in imported.catalog["schedules"]].index("db-ical")
    assert imported.comments[f"schedules[{index}]"][0] == \
        "OnCall reads this schedule from iCal (calendars at 127.0.0.1)"  # not the secret URLs
    assert ("expanded from iCal for 90 days from 2027-03-20: run the import again before "
            "2027-06-17, or write layers by hand") in imported.comments[f"schedules[{index}]"]
    assert "# expanded from iCal for 90 days" in text and "db.ics" not in text
    assert any(line.startswith("schedule 'DB iCal': its iCal events are overrides until "
                               "2027-06-17") for line in imported.check_by_hand)
    catalog = parse_catalog(text)
    at = datetime(2027, 3, 29, 7, 59, tzinfo=UTC)  # 09:59 CEST: erin's week not over yet
    assert on_call(catalog, schedule_id="db-ical", at=at) == ["erin"]
    assert on_call(catalog, schedule_id="db-ical", at=at + timedelta(minutes=1)) == ["carol"]
    assert catalog_yaml(_source(ical).fetch(now=NOW), command=COMMAND) == text  # stable


def test_firebell_agrees_with_oncall_on_an_ical_schedule_for_14_days(
        ical: FakeGrafanaOnCall) -> None:
    source = _source(ical)
    imported = source.fetch(now=NOW)
    catalog = parse_catalog(catalog_yaml(imported, command=COMMAND))
    end = NOW + timedelta(days=14)
    said = source.final_shifts(imported, start=NOW, end=end)
    assert [(s.person, s.start) for s in said] == [
        ("dave", NOW), ("erin", datetime(2027, 3, 22, 9, tzinfo=UTC)),
        ("bob", datetime(2027, 3, 24, 17, tzinfo=UTC)),
        ("erin", datetime(2027, 3, 25, 8, tzinfo=UTC)),
        ("carol", datetime(2027, 3, 29, 8, tzinfo=UTC))]  # 10:00 CEST
    result = compare_schedule(catalog, schedule="db-ical", source=said, start=NOW, end=end)
    assert result.differences == []
    assert (result.shifts, result.agreeing) == (5, 5)

    # OnCall answering an hour later for the handoff after the DST change is a difference.
    ical.set_final_shift("SDBICAL003", 3, user="UERIN0005", start="2027-03-25T08:00:00Z",
                         end="2027-03-29T09:00:00Z")
    differs = compare_schedule(catalog, schedule="db-ical",
                               source=source.final_shifts(imported, start=NOW, end=end),
                               start=NOW, end=end)
    assert [(d.start, d.end, d.source, d.firebell) for d in differs.differences] == [
        (datetime(2027, 3, 29, 8, tzinfo=UTC), datetime(2027, 3, 29, 9, tzinfo=UTC),
         ("carol", "erin"), ("carol",))]


def test_an_unreachable_calendar_is_reported_and_the_import_still_succeeds(
        ical: FakeGrafanaOnCall, tmp_path: Path) -> None:
    gone = f"http://127.0.0.1:{_closed_port()}/db.ics"
    ical.world["schedules"][0]["ical_url_primary"] = gone
    ical.world["schedules"][0]["ical_url_overrides"] = f"{ical.api_url}/ical/missing.ics"
    imported = _source(ical).fetch(now=NOW)
    schedule = _by_id(imported.catalog["schedules"])["db-ical"]
    assert schedule["layers"] == [] and "overrides" not in schedule
    assert [line for line in imported.unmapped if "could not be fetched" in line] == [
        f"schedule 'DB iCal': iCal calendar {gone} could not be fetched (ConnectError: "
        "[Errno 111] Connection refused): not imported",
        f"schedule 'DB iCal': iCal calendar {ical.api_url}/ical/missing.ics could not be "
        "fetched (HTTP 404): not imported"]
    assert "schedule 'DB iCal': write its layers (its iCal calendar could not be fetched)" \
        in imported.check_by_hand

    out = tmp_path / "imported.yaml"
    result = run_firebell("import", "grafana-oncall", "--output", str(out),
                          "--now", NOW.isoformat(), cwd=tmp_path, env=_env(ical, tmp_path))
    assert result.returncode == 0, result.stderr
    assert f"iCal calendar {gone} could not be fetched" in result.stdout
    assert parse_catalog(out.read_text(encoding="utf-8")).schedule("db-ical").overrides == []


def test_the_oncall_token_goes_only_to_oncall_own_host(ical: FakeGrafanaOnCall) -> None:
    elsewhere = FakeGrafanaOnCall(ical_only_world()).start()  # another origin (port)
    try:
        ical.world["schedules"][0]["ical_url_primary"] = f"{elsewhere.api_url}/ical/db.ics"
        imported = _source(ical).fetch(now=NOW)
    finally:
        elsewhere.stop()
    assert elsewhere.calendar_requests == [("/ical/db.ics", None)]
    assert ical.calendar_requests == [("/ical/db-overrides.ics", TOKEN)]  # OnCall's own host
    assert len(_by_id(imported.catalog["schedules"])["db-ical"]["overrides"]) == 15


ROTATION_ICS = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//Grafana Labs//Grafana OnCall//\r
""" + "".join(f"""BEGIN:VEVENT\r
UID:rotation-{who}\r
DTSTART;TZID=Europe/Berlin:202701{day:02d}T090000\r
DTEND;TZID=Europe/Berlin:202701{day + 7:02d}T090000\r
RRULE:FREQ=WEEKLY;INTERVAL=3\r
SUMMARY:{who}\r
END:VEVENT\r
""" for who, day in (("carol", 18), ("alice", 4), ("bob@example.com", 11))) + "END:VCALENDAR\r\n"


def test_an_ical_calendar_that_is_exactly_a_weekly_rotation_becomes_a_layer(
        ical: FakeGrafanaOnCall) -> None:
    ical.world["calendars"]["/ical/db.ics"] = ROTATION_ICS
    imported = _source(ical).fetch(now=NOW)
    schedule = _by_id(imported.catalog["schedules"])["db-ical"]
    assert schedule["timezone"] == "Europe/Berlin"
    assert schedule["layers"] == [{"name": "iCal rotation", "every": "1w", "handoff": "Mon 09:00",
                                   "start": "2027-01-04", "members": ["alice", "bob", "carol"]}]
    assert schedule["overrides"] == [  # the overrides calendar's event stays an override
        {"person": "bob", "start": "2027-03-24T18:00:00+01:00",
         "end": "2027-03-25T09:00:00+01:00"}]
    assert not any("expanded from iCal" in line for lines in imported.comments.values()
                   for line in lines)
    catalog = parse_catalog(catalog_yaml(imported, command=COMMAND))
    # The week of 15 March is the 11th from 4 January: bob's; then carol's, then alice's.
    assert on_call(catalog, schedule_id="db-ical", at=NOW) == ["bob"]
    # alice from Monday 29 March 09:00 CEST (07:00Z), after the DST change.
    assert on_call(catalog, schedule_id="db-ical",
                   at=datetime(2027, 3, 29, 6, 59, tzinfo=UTC)) == ["carol"]
    assert on_call(catalog, schedule_id="db-ical",
                   at=datetime(2027, 3, 29, 7, 0, tzinfo=UTC)) == ["alice"]

    # An EXDATE makes it inexact: then it is expanded instead.
    ical.world["calendars"]["/ical/db.ics"] = ROTATION_ICS.replace(
        "SUMMARY:alice\r\n", "SUMMARY:alice\r\nEXDATE;TZID=Europe/Berlin:20270517T090000\r\n")
    schedule = _by_id(_source(ical).fetch(now=NOW).catalog["schedules"])["db-ical"]
    assert schedule["layers"] == []
    assert ("alice", "2027-03-29T09:00:00+02:00") in [
        (o["person"], o["start"]) for o in schedule["overrides"]]
