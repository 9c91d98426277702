"""Fixtures every tier shares: both databases for real, a store on each, a fake clock's start.

Helpers that are not fixtures (fakes, the one `World`, paths) live in tests/support/.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from storage.store import SqlStore
from tests.support.databases import fresh_database


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database: a SQLite file, and a schema of its own on PostgreSQL."""
    yield from fresh_database(request.param, tmp_path)


@pytest.fixture
def store(database_url: str) -> Iterator[SqlStore]:
    store = SqlStore(database_url)
    yield store
    store.dispose()


@pytest.fixture
def start_time() -> datetime:
    # A Tuesday morning in Berlin, in business hours.
    return datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
