"""The bridge link (issue 18) in the workflows: the catalog's keys and their errors with paths,
the template filled per incident (the team's wins over the default), and `/incident bridge`
through the command table every chat front-end shares."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from storage.store import SqlStore
from tests.support.catalogs import PAGING, paging_catalog
from tests.support.world import World
from workflows.catalog.load import parse_catalog
from workflows.catalog.model import CatalogError
from workflows.ports import InvalidRequest

TUESDAY = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
TEAM = "{id: payments, name: Payments, slack_channel: CPAY, escalation_policy: pay}"


def _with_team_bridge(bridge: str, text: str) -> str:
    assert TEAM in text
    return text.replace(TEAM, TEAM.replace("}", f', bridge: "{bridge}"}}'))


def _problems(text: str) -> list[str]:
    with pytest.raises(CatalogError) as caught:
        parse_catalog(text, source="firebell.yaml")
    return caught.value.problems


def test_bad_bridges_and_coverage_settings_are_reported_with_their_paths() -> None:
    text = _with_team_bridge("https://meet.example/{incident_name}", paging_catalog(**{
        "P1: {page: true,": "P1: {page: sometimes,",
        "P2: {page: true,": 'P2: {page: true, coverage_hours: {days: Mon-Fri},',
        "P3: {page: false,": 'P3: {page: coverage, coverage_hours: {days: Mon-Frx},',
    })) + 'bridge: "ftp://files.example/room"\n'
    problems = _problems(text)
    expected = [
        "teams[0].bridge: unknown placeholder {incident_name} (known: {incident_slug}, "
        "{incident_id}, {incident_ref})",
        "priorities.response.P1.page: page must be true, false or coverage (got 'sometimes')",
        "priorities.response.P2: coverage_hours is only read with `page: coverage`",
        "priorities.response.P3.coverage_hours.days: unknown day 'frx'",
        "bridge: must be an http:// or https:// URL (got 'ftp://files.example/room')",
    ]
    for wanted in expected:
        assert any(wanted in p for p in problems), (wanted, problems)
    assert all(p.startswith("firebell.yaml:") for p in problems)
    assert len(problems) == len(expected)


def test_the_teams_bridge_wins_and_its_placeholders_are_filled(store: SqlStore) -> None:
    text = _with_team_bridge("https://meet.example/{incident_ref}?n={incident_id}", PAGING) + 'bridge: "https://meet.jit.si/{incident_slug}"\n'
    world = World.for_paging(store, TUESDAY, catalog=text)
    incident = world.declare()
    assert incident.bridge == f"https://meet.example/INC-{incident.id}?n={incident.id}"
    default = World.for_paging(store, TUESDAY, catalog=PAGING + 'bridge: "https://meet.jit.si/{incident_slug}"\n')
    other = default.declare(title="Ledger is slow")
    assert other.bridge == f"https://meet.jit.si/inc-20261124-{other.id}-ledger-is-slow"
    assert f"Bridge: {other.bridge}" in default.pager.texts[0]  # in the page
    assert World.for_paging(store, TUESDAY).declare().bridge is None  # no bridge: none shown


def test_incident_bridge_sets_it_through_the_command_table(store: SqlStore) -> None:
    world = World.for_paging(store, TUESDAY)
    incident_id = world.declare_id()
    assert "Bridge" not in next(iter(world.chat.topics.values()))
    reply = world.say(f"/incident bridge INC-{incident_id} https://meet.jit.si/war-room", user="UFRANK")
    assert reply == f"The bridge of INC-{incident_id} is now https://meet.jit.si/war-room."
    assert world.incident(incident_id).bridge == "https://meet.jit.si/war-room"
    assert "Bridge: https://meet.jit.si/war-room" in next(iter(world.chat.topics.values()))
    assert "bridge_set" in world.kinds(incident_id)
    with pytest.raises(InvalidRequest, match="must be an http:// or https:// link"):
        world.say(f"/incident bridge INC-{incident_id} javascript:alert(1)", user="UFRANK")
    assert world.incident(incident_id).bridge == "https://meet.jit.si/war-room"
    assert "bridge <url>" in world.say("/incident help")
