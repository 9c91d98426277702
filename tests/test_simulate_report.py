"""Safe testing (`firebell simulate`) and the paging report."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from storage.store import SqlStore
from tests.test_paging_rules import catalog_text
from tests.test_workflows import World
from workflows import respond
from workflows.catalog import parse_catalog
from workflows.paging_report import report_for
from workflows.simulate import escalation_plan

ROOT = Path(__file__).resolve().parent.parent
CHRISTMAS_EVE_3AM = datetime(2026, 12, 24, 2, 0, tzinfo=UTC)  # 03:00 in Berlin


def test_plan_lists_every_step_with_channels_and_local_time() -> None:
    catalog = parse_catalog(catalog_text())
    plan = escalation_plan(catalog, service_id="checkout", priority="P1", at=CHRISTMAS_EVE_3AM)
    first = [(p.name, p.channel) for p in plan.pages if (p.round, p.step) == (0, 0)]
    assert first == [("Alice", "voice"), ("Alice", "sms"), ("Alice", "chat")]
    second = {p.name for p in plan.pages if (p.round, p.step) == (0, 1)}
    assert second == {"Bob", "Erin"}
    assert plan.pages[0].local_time == "Thu 2026-12-24 03:00 CET"
    assert max(p.at for p in plan.pages) == CHRISTMAS_EVE_3AM + timedelta(minutes=15)  # repeat: 1
    assert "exhausted" in plan.notes[-1]


def test_plan_of_a_ticket_priority_counts_business_hours() -> None:
    catalog = parse_catalog(catalog_text())
    plan = escalation_plan(catalog, service_id="checkout", priority="P3", at=CHRISTMAS_EVE_3AM)
    assert plan.pages == []
    assert "Thu 2026-12-24 17:00 CET" in plan.notes[0]  # 09:00-17:00 on the 24th: 8h


def test_plan_of_a_drill_uses_chat_only() -> None:
    catalog = parse_catalog(catalog_text())
    plan = escalation_plan(catalog, service_id="checkout", priority="P1", at=CHRISTMAS_EVE_3AM,
                           drill=True)
    assert {p.channel for p in plan.pages} == {"chat"}


def test_simulate_command_prints_the_plan(tmp_path: Path) -> None:
    catalog = tmp_path / "firebell.yaml"
    catalog.write_text(catalog_text())
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
    world = World(store, datetime(2026, 11, 24, 22, 30, tzinfo=UTC), catalog=catalog_text(),
                  channels=("chat", "sms", "voice"))  # 23:30 CET
    for minutes in (0, 60, 120):  # three pages for alice in one night
        world.clock.set(datetime(2026, 11, 24, 22, 30, tzinfo=UTC) + timedelta(minutes=minutes))
        incident_id = world.declare(title=f"night {minutes}")
        world.clock.advance(timedelta(seconds=90))
        respond.acknowledge(world.ctx, incident_id=incident_id, person="alice")
    world.clock.set(datetime(2026, 11, 25, 10, 0, tzinfo=UTC))
    world.declare(title="daytime")
    report = report_for(world.ctx, start=datetime(2026, 11, 24, tzinfo=UTC),
                        end=datetime(2026, 11, 26, tzinfo=UTC))
    alice = next(r for r in report if r.person == "alice")
    assert alice.interruptions == 4  # three channels of one page count once
    assert alice.night_interruptions == 3
    assert [n.isoformat() for n in alice.bad_nights] == ["2026-11-24"]
    assert alice.acknowledged == 3 and alice.median_ack_seconds == 90


def test_paging_report_leaves_out_drill_pages(store: SqlStore) -> None:
    world = World(store, datetime(2026, 11, 24, 22, 30, tzinfo=UTC), catalog=catalog_text(),
                  channels=("chat", "sms", "voice"))  # 23:30 CET
    for minutes in (0, 30, 60):  # three practice pages for alice in one night
        world.clock.set(datetime(2026, 11, 24, 22, 30, tzinfo=UTC) + timedelta(minutes=minutes))
        drill = world.declare(title=f"drill {minutes}", drill=True)
        respond.acknowledge(world.ctx, incident_id=drill, person="alice")
    world.clock.set(datetime(2026, 11, 25, 1, 0, tzinfo=UTC))
    real = world.declare(title="real")
    assert world.pages(real) and world.pages(drill)  # both paged alice
    report = report_for(world.ctx, start=datetime(2026, 11, 24, tzinfo=UTC),
                        end=datetime(2026, 11, 26, tzinfo=UTC))
    alice = next(r for r in report if r.person == "alice")
    assert (alice.interruptions, alice.night_interruptions) == (1, 1)
    assert alice.bad_nights == [] and alice.acknowledged == 0
