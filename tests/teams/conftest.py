from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.teams.fakes import TeamsHarness
from workflows.clock import FakeClock

START = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)  # a Tuesday: Alice is on call for payments


@pytest.fixture
def teams(tmp_path: Path) -> Iterator[TeamsHarness]:
    harness = TeamsHarness(tmp_path, clock=FakeClock(START))
    yield harness
    harness.close()
