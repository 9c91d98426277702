"""Safe testing (`firebell simulate`) and the paging report."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from storage.store import SqlStore
from tests.support.catalogs import paging_catalog
from tests.support.paths import ROOT
from tests.support.world import World
from workflows.catalog.load import parse_catalog
from workflows.incident import respond
from workflows.paging.report import report_for
from workflows.paging.simulate import escalation_plan

CHRISTMAS_EVE_3AM = datetime(2026, 12, 24, 2, 0, tzinfo=UTC)  # 03:00 in Berlin


def test_plan_lists_every_step_with_channels_and_local_time() -> None:
    catalog = parse_catalog(paging_catalog())
    plan = escalation_plan(catalog, service_id="checkout", priority="P1", at=CHRISTMAS_EVE_3AM)
    first = [(p.name, p.channel) for p in plan.pages if (p.round, p.step) == (0, 0)]
    assert first == [("Alice", "voice"), ("Alice", "sms"), ("Alice", "chat")]
    second = {p.name for p in plan.pages if (p.round, p.step) == (0, 1)}
    assert second == {"Bob", "Erin"}
    assert plan.pages[0].local_time == "Thu 2026-12-24 03:00 CET"
    assert max(p.at for p in plan.pages) == CHRISTMAS_EVE_3AM + timedelta(minutes=15)  # repeat: 1
    assert "exhausted" in plan.notes[-1]


def test_plan_of_a_ticket_priority_counts_business_hours() -> None:
    catalog = parse_catalog(paging_catalog())
    plan = escalation_plan(catalog, service_id="checkout", priority="P3", at=CHRISTMAS_EVE_3AM)
    assert plan.pages == []
    assert "Thu 2026-12-24 17:00 CET" in plan.notes[0]  # 09:00-17:00 on the 24th: 8h


def test_plan_of_a_drill_uses_chat_only() -> None:
    catalog = parse_catalog(paging_catalog())
    plan = escalation_plan(catalog, service_id="checkout", priority="P1", at=CHRISTMAS_EVE_3AM,
                           drill=True)
    assert {p.channel for p in plan.pages} == {"chat"}


def test_simulate_command_prints_the_plan(tmp_path: Path) -> None:
    catalog = tmp_path / "firebell.yaml"
    catalog.write_text(paging_catalog())
    result = subprocess.run(
        [sys.executable, str(ROOT / "app.py"), "simulate", "--service", "checkout", "--priority",
         "P1", "--at", "2026-12-24T03:00"],
        capture_output=True, text=True, env={"FIREBELL_CONFIG": str(catalog), "PATH": "/usr/bin"},
        cwd=tmp_path, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "nothing is sent" in result.stdout
    assert "+5m  round 1 step 2  Bob by chat" in result.stdout
    assert "Twilio is off" in result.stdout


def test_paging_report_counts_nights_and_ack_times(store: SqlStore) -> None:
    world = World.for_paging(store, datetime(2026, 11, 24, 22, 30, tzinfo=UTC), catalog=paging_catalog(),
                  channels=("chat", "sms", "voice"))  # 23:30 CET
    for minutes in (0, 60, 120):  # three pages for alice in one night
        world.clock.set(datetime(2026, 11, 24, 22, 30, tzinfo=UTC) + timedelta(minutes=minutes))
        incident_id = world.declare_id(title=f"night {minutes}")
        world.clock.advance(timedelta(seconds=90))
        respond.acknowledge(world.ctx, incident_id=incident_id, person="alice")
    world.clock.set(datetime(2026, 11, 25, 10, 0, tzinfo=UTC))
    world.declare_id(title="daytime")
    report = report_for(world.ctx, start=datetime(2026, 11, 24, tzinfo=UTC),
                        end=datetime(2026, 11, 26, tzinfo=UTC))
    alice = next(r for r in report if r.person == "alice")
    assert alice.interruptions == 4  # three channels of one page count once
    assert alice.night_interruptions == 3
    assert [n.isoformat() for n in alice.bad_nights] == ["2026-11-24"]
    assert alice.acknowledged == 3 and alice.median_ack_seconds == 90


def test_paging_report_leaves_out_drill_pages(store: SqlStore) -> None:
    world = World.for_paging(store, datetime(2026, 11, 24, 22, 30, tzinfo=UTC), catalog=paging_catalog(),
                  channels=("chat", "sms", "voice"))  # 23:30 CET
    for minutes in (0, 30, 60):  # three practice pages for alice in one night
        world.clock.set(datetime(2026, 11, 24, 22, 30, tzinfo=UTC) + timedelta(minutes=minutes))
        drill = world.declare_id(title=f"drill {minutes}", drill=True)
        respond.acknowledge(world.ctx, incident_id=drill, person="alice")
    world.clock.set(datetime(2026, 11, 25, 1, 0, tzinfo=UTC))
    real = world.declare_id(title="real")
    assert world.pages(real) and world.pages(drill)  # both paged alice
    report = report_for(world.ctx, start=datetime(2026, 11, 24, tzinfo=UTC),
                        end=datetime(2026, 11, 26, tzinfo=UTC))
    alice = next(r for r in report if r.person == "alice")
    assert (alice.interruptions, alice.night_interruptions) == (1, 1)
    assert alice.bad_nights == [] and alice.acknowledged == 0


def _with_staging() -> str:
    """The catalog plus a staging copy of checkout, as `environment: staging` declares it."""
    return paging_catalog().replace("schedules:\n", "  - {id: checkout-staging, name: Checkout staging, "
                                  "team: payments, environment: staging}\nschedules:\n", 1)


def test_plan_of_a_staging_service_follows_its_environment_as_intake_does() -> None:
    catalog = parse_catalog(_with_staging())
    plan = escalation_plan(catalog, service_id="checkout-staging", severity="critical",
                           urgency="high", at=CHRISTMAS_EVE_3AM)
    assert (plan.priority, plan.environment, plan.pages) == ("P3", "staging", [])
    assert "does not page" in plan.notes[-1]
    # Asking for production or for P1 does not make staging page: intake would not either.
    plan = escalation_plan(catalog, service_id="checkout-staging", priority="p1",
                           environment="production", at=CHRISTMAS_EVE_3AM)
    assert (plan.priority, plan.environment, plan.pages) == ("P3", "staging", [])
    assert "staging is not production: P1 is capped at P3, as intake caps it" in plan.notes
    # A production service simulated in staging is capped too; in production it pages.
    assert escalation_plan(catalog, service_id="checkout", environment="staging",
                           at=CHRISTMAS_EVE_3AM).priority == "P3"
    assert escalation_plan(catalog, service_id="checkout", at=CHRISTMAS_EVE_3AM).pages


def _simulate(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    catalog = tmp_path / "firebell.yaml"
    catalog.write_text(_with_staging())
    return subprocess.run(
        [sys.executable, str(ROOT / "app.py"), "simulate", *args, "--at", "2026-12-24T03:00"],
        capture_output=True, text=True, env={"FIREBELL_CONFIG": str(catalog), "PATH": "/usr/bin"},
        cwd=tmp_path, timeout=60, check=False,
    )


def test_simulate_command_uses_the_services_environment(tmp_path: Path) -> None:
    result = _simulate(tmp_path, "--service", "checkout-staging")
    assert result.returncode == 0, result.stderr
    assert "P3 on checkout-staging (staging, team payments)" in result.stdout
    assert "P3 does not page" in result.stdout and " by sms" not in result.stdout


def test_simulate_command_names_an_unknown_service_and_the_known_ones(tmp_path: Path) -> None:
    result = _simulate(tmp_path, "--service", "chekout", "--priority", "P1")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        "firebell: error: simulate: unknown service 'chekout' (known: checkout, checkout-staging)")
    assert result.stdout == ""
