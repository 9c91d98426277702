"""`firebell report mttr|frequency|paging|noise|hours` through the real entry point: the same
numbers as workflows/insights.py (and so as the insight API), as a table or CSV."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from storage.db import upgrade
from storage.store import SqlStore
from tests.support.catalogs import PAGING
from tests.support.cli import run_firebell
from tests.support.world import World
from workflows import insights
from workflows.incident import lifecycle, respond

MARCH = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
PERIOD = ["--since", "2026-03-01", "--until", "2026-05-01"]


@pytest.fixture
def setup(tmp_path: Path) -> tuple[dict[str, str], World]:
    url = f"sqlite:///{tmp_path / 'firebell.db'}"
    upgrade(url)
    (tmp_path / "firebell.yaml").write_text(PAGING)
    world = World.for_paging(SqlStore(url), MARCH)
    for day, ack, resolve in ((10, 120, 1800), (12, 240, 5400)):
        world.clock.set(MARCH.replace(day=day))
        incident = world.declare_id()
        world.clock.advance(timedelta(seconds=ack))
        respond.acknowledge(world.ctx, incident_id=incident, person="alice")
        world.clock.set(MARCH.replace(day=day) + timedelta(seconds=resolve))
        lifecycle.resolve(world.ctx, incident_id=incident, actor="alice")
    env = {"FIREBELL_CONFIG": str(tmp_path / "firebell.yaml"), "DATABASE_URL": url}
    return env, world


def test_mttr_csv_is_the_workflow_csv(setup: tuple[dict[str, str], World], tmp_path: Path) -> None:
    env, world = setup
    done = run_firebell("report", "mttr", *PERIOD, "--by", "month", "--csv", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    since, until = datetime(2026, 2, 28, 23, tzinfo=UTC), datetime(2026, 4, 30, 22, tzinfo=UTC)
    assert done.stdout == insights.rows_csv(
        insights.response_times(world.ctx, since=since, until=until, by="month"))
    assert "2026-03,2026-03-01,priority,P1,2,0,,,,2,180.0,180.0,228.0" in done.stdout


def test_tables_and_the_other_reports(setup: tuple[dict[str, str], World], tmp_path: Path) -> None:
    env, _ = setup
    table = run_firebell("report", "frequency", *PERIOD, "--by", "month", cwd=tmp_path, env=env)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].startswith("frequency: 2026-02-28T23:00:00+00:00 to")
    assert lines[1].split() == ["period", "start", "priority", "incidents"]
    assert lines[2].split() == ["2026-03", "2026-03-01", "P1", "2"]
    assert lines[3].split() == ["2026-04", "2026-04-01", "P1", "0"]
    hours = run_firebell("report", "hours", *PERIOD, "--csv", cwd=tmp_path, env=env)
    assert hours.returncode == 0 and hours.stdout.startswith(
        "person,schedule,business,night,weekend,holiday,total")
    noise = run_firebell("report", "noise", *PERIOD, cwd=tmp_path, env=env)
    assert noise.returncode == 0 and "(nothing in this period)" in noise.stdout
    paging = run_firebell("report", "paging", *PERIOD, "--csv", cwd=tmp_path, env=env)
    assert paging.returncode == 0 and paging.stdout.startswith("person,name,night,pages,bad")


def test_bad_arguments_are_usage_errors(setup: tuple[dict[str, str], World], tmp_path: Path) -> None:
    env, _ = setup
    by = run_firebell("report", "mttr", "--by", "year", cwd=tmp_path, env=env)
    assert by.returncode == 2 and "invalid choice: 'year'" in by.stderr
    since = run_firebell("report", "frequency", "--since", "soon", cwd=tmp_path, env=env)
    assert since.returncode == 2 and since.stderr.startswith("firebell: error: --since")
    empty = run_firebell("report", "mttr", "--since", "2026-05-01", "--until", "2026-04-01",
                         cwd=tmp_path, env=env)
    assert empty.returncode == 2 and "--since must be before --until" in empty.stderr
