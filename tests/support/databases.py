"""Both databases for real: a migrated SQLite file, or a PostgreSQL database of its own."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from storage.db import upgrade


def postgres_url() -> str | None:
    url = os.environ.get("FIREBELL_TEST_PG_URL")
    if url:
        return url
    if os.environ.get("CI"):
        pytest.fail("CI must run PostgreSQL: set FIREBELL_TEST_PG_URL (.ci/run does)")
    return None


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
