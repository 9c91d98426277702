"""Shared fixtures: both databases for real, a fake clock, the demo catalog."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from storage.db import upgrade
from storage.store import SqlStore

ROOT = Path(__file__).resolve().parent.parent
DEMO_CATALOG = ROOT / "examples" / "demo.yaml"


def postgres_url() -> str | None:
    url = os.environ.get("FIREBELL_TEST_PG_URL")
    if url:
        return url
    if os.environ.get("CI"):
        pytest.fail("CI must run PostgreSQL: set FIREBELL_TEST_PG_URL (.ci/run does)")
    return None


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database: a SQLite file, and a schema of its own on PostgreSQL."""
    yield from fresh_database(request.param, tmp_path)


def fresh_database(kind: str, tmp_path: Path) -> Iterator[str]:
    """Yield the URL of a new migrated database of `kind` ("sqlite": a file under `tmp_path`;
    "postgresql": a database of its own, dropped afterwards)."""
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'firebell.db'}"
        upgrade(url)
        yield url
        return
    base = postgres_url()
    if base is None:
        pytest.skip("PostgreSQL not configured: set FIREBELL_TEST_PG_URL")
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def store(database_url: str) -> Iterator[SqlStore]:
    store = SqlStore(database_url)
    yield store
    store.dispose()


@pytest.fixture
def start_time() -> datetime:
    # A Tuesday morning in Berlin, in business hours.
    return datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
