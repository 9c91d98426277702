"""The catalog: both examples load, every mistake is reported at once with line and path."""

from __future__ import annotations

import pytest

from tests.support.paths import EXAMPLES
from workflows.catalog.load import check_catalog, load_catalog, parse_catalog
from workflows.catalog.model import (
    CatalogError,
    UnknownEntity,
)
from workflows.durations import Duration, format_duration, parse_duration


@pytest.fixture(scope="module")
def catalog():
    return load_catalog(EXAMPLES / "firebell.yaml")


@pytest.mark.parametrize("name", ["firebell.yaml", "demo.yaml"])
def test_examples_are_valid(name):
    assert check_catalog(EXAMPLES / name) == []
    catalog = load_catalog(EXAMPLES / name)
    assert all(person.slack for person in catalog.people)


def test_demo_catalog_has_what_the_demo_needs():
    demo = load_catalog(EXAMPLES / "demo.yaml")
    assert demo.service("checkout").runbook and demo.service("checkout").dashboards
    policy = demo.policy(demo.team("payments").escalation_policy or "")
    assert policy.repeat == 0
    assert [step.ack_timeout for step in policy.steps] == [Duration(30)] * 3
    p1 = demo.response_for("P1")
    assert (p1.update_every, p1.monitor_for) == (Duration(60), Duration(120))


BROKEN = """\
timezone: Europe/Berlinn
people:
  - {id: alice, name: Alice, slack: U1}
  - {id: alice, name: Alice again, slack: U2}
teams:
  - {id: payments, name: Payments, escalation_policy: payments-default}
schedules:
  - id: payments-primary
    team: paymnts
    rotation: {every: 1d, handoff: "Mon 09:00", start: "2026-01-05", members: [alice, zed]}
    overrides:
      - {person: alice, start: "2026-12-27T09:00", end: "2026-12-24T18:00"}
escalation_policies:
  - id: payments-default
    steps:
      - {notify: ["schedule:payments-primary"], ack_timeout: 5m}
      - {notify: ["schedule:payments-secundary"], ack_timeout: 5 parsecs}
escalation_groups:
  legal: [frank]
priorities:
  matrix:
    critical: {high: P1, low: P2}
  response:
    P1: {page: true, ack_within: 5m, channels: [voice, pigeon]}
"""


def test_a_broken_catalog_reports_every_problem_with_line_and_path():
    with pytest.raises(CatalogError) as caught:
        parse_catalog(BROKEN, source="firebell.yaml")
    problems = caught.value.problems
    expected = [
        "firebell.yaml:1: timezone: unknown time zone 'Europe/Berlinn'",
        "firebell.yaml:4: people[1].id: duplicate person id 'alice'",
        "firebell.yaml:9: schedules[0].team: unknown team 'paymnts' (did you mean 'payments'?)",
        "firebell.yaml:10: schedules[0].rotation: handoff 'Mon 09:00' names a day",
        "firebell.yaml:10: schedules[0].rotation.members[1]: unknown person 'zed'",
        "firebell.yaml:12: schedules[0].overrides[0]: override ends",
        "firebell.yaml:17: escalation_policies[0].steps[1].notify[0]: unknown schedule 'payments-secundary'",
        "firebell.yaml:17: escalation_policies[0].steps[1].ack_timeout: not a duration: '5 parsecs'",
        "firebell.yaml:19: escalation_groups.legal[0]: unknown person 'frank'",
        "firebell.yaml:20: priorities.nonproduction: priority 'P3' has no entry in priorities.response",
        "firebell.yaml:22: priorities.matrix.critical.low: priority 'P2' has no entry",
        "firebell.yaml:24: priorities.response.P1.channels[1]: Input should be 'voice'",
    ]
    for start in expected:
        assert any(p.startswith(start) for p in problems), (start, problems)
    assert len(problems) == len(expected)
    assert str(caught.value) == "\n".join(problems)


def test_yaml_syntax_errors_carry_their_line(tmp_path):
    path = tmp_path / "firebell.yaml"
    path.write_text("timezone: UTC\npeople: [{id: alice\nteams: []\n")
    [problem] = check_catalog(path)
    assert problem.startswith(f"{path}:3: YAML syntax error")


def test_unknown_keys_and_duplicate_keys_are_reported():
    text = "people:\n  - {id: alice, slak: U1}\nteams: []\nteams: []\n"
    with pytest.raises(CatalogError) as caught:
        parse_catalog(text)
    assert caught.value.problems == [
        "firebell.yaml:2: people[0].slak: unknown key",
        "firebell.yaml:4: teams: duplicate key (the later one would silently win)",
    ]


def test_missing_file_is_one_problem(tmp_path):
    [problem] = check_catalog(tmp_path / "nope.yaml")
    assert "cannot read the catalog" in problem


@pytest.mark.parametrize(
    ("severity", "urgency", "environment", "priority"),
    [
        ("critical", "high", "production", "P1"),
        ("critical", "low", "production", "P2"),
        ("major", "high", "production", "P2"),
        ("minor", "low", "production", "P4"),
        ("Critical", "HIGH", "prod", "P1"),
        ("critical", "high", "staging", "P3"),  # capped at `nonproduction`
        ("minor", "low", "staging", "P4"),  # already worse than the cap
    ],
)
def test_priority_matrix(catalog, severity, urgency, environment, priority):
    assert (
        catalog.priority_for(severity=severity, urgency=urgency, environment=environment)
        == priority
    )


def test_unknown_severity_lists_the_valid_ones(catalog):
    with pytest.raises(
        UnknownEntity, match=r"unknown severity 'sev0' \(known: critical, major, minor\)"
    ):
        catalog.priority_for(severity="sev0", urgency="high")
    with pytest.raises(LookupError, match="unknown urgency 'medium'"):
        catalog.priority_for(severity="major", urgency="medium")


def test_responses_and_business_durations(catalog):
    assert catalog.response_for("P1").channels == ["voice", "sms", "chat"]
    assert catalog.response_for("P3").ack_within == Duration(8 * 3600, business=True)
    assert not catalog.response_for("P4").page


def test_lookups(catalog):
    assert catalog.person("alice").name == "Alice Doe"
    assert catalog.person_zone("erin") == "Europe/Berlin"  # the catalog's zone
    assert catalog.person_zone("henry") == "Asia/Kolkata"
    assert catalog.person_by_chat_id("U0BOB").id == "bob"
    assert catalog.person_by_chat_id("U0NOBODY") is None
    for ref in [
        "carol",
        "@carol",
        "U0CAROL",
        "<@U0CAROL>",
        "<@U0CAROL|carol>",
        "Carol@Example.com",
    ]:
        assert catalog.find_person(ref).id == "carol"
    with pytest.raises(UnknownEntity, match="unknown person '@zed'"):
        catalog.find_person("@zed")
    assert [s.id for s in catalog.schedules_of_team("payments")] == [
        "payments-primary",
        "payments-secondary",
    ]
    assert catalog.team_for_service("auth").id == "security"
    with pytest.raises(UnknownEntity, match="unknown schedule 'nope'"):
        catalog.schedule("nope")


def test_match_service(catalog):
    assert catalog.match_service({"service": "checkout", "region": "eu"}).id == "checkout"
    assert catalog.match_service({"service": "checkout", "env": "staging"}).id == "checkout-staging"
    assert catalog.match_service({"job": "node"}) is None


def test_naive_override_times_are_in_the_schedule_zone(catalog):
    override = catalog.schedule("payments-primary").overrides[0]
    assert override.start.utcoffset().total_seconds() == 3600  # CET


@pytest.mark.parametrize(
    ("text", "seconds", "business"),
    [("30s", 30, False), ("5m", 300, False), ("1h30m", 5400, False), ("2d", 172800, False),
     ("1w", 604800, False), ("8h business", 28800, True), ("5d business", 432000, True),
     ("1w business", 432000, True), (45, 45, False), ("10 minutes", 600, False)],
)  # fmt: skip
def test_parse_duration(text, seconds, business):
    assert parse_duration(text) == Duration(seconds, business)


@pytest.mark.parametrize("text", ["", "5", "5x", "m5", "1h 30", "business", True, -1])
def test_bad_durations(text):
    if text == "5":
        assert parse_duration(text) == Duration(5)
        return
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_format_duration():
    assert [format_duration(s) for s in (0, 45, 300, 5400, 86400, 90061)] == [
        "0s",
        "45s",
        "5m",
        "1h30m",
        "1d",
        "1d1h1m1s",
    ]
    assert str(parse_duration("8h business")) == "8h business"
