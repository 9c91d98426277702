"""Scratch databases for benchmarks: SQLite files, or PostgreSQL databases on the server of
FIREBELL_TEST_PG_URL; each can start as a copy of another."""

from __future__ import annotations

import os
import sqlite3
import uuid
from contextlib import closing
from pathlib import Path

from sqlalchemy import create_engine, text


class Scratch:
    """Scratch databases of one kind ("sqlite" or "postgresql"); `close` drops them."""

    def __init__(self, database: str, tmp: Path) -> None:
        self._tmp = tmp
        base = os.environ.get("FIREBELL_TEST_PG_URL", "") if database == "postgresql" else ""
        self._base = base
        self._admin = create_engine(base, isolation_level="AUTOCOMMIT") if base else None
        self._made: list[str] = []

    def url(self, name: str) -> str:
        if self._admin is None:
            return f"sqlite:///{self._tmp / name}.db"
        return self._base.rsplit("/", 1)[0] + f"/{name}"

    def create(self, *, copy_of: str | None = None) -> str:
        """A new database (a copy of `copy_of`'s, if given); returns its name."""
        name = f"bench_{uuid.uuid4().hex[:10]}"
        if self._admin is None:
            if copy_of is not None:
                with closing(sqlite3.connect(self._tmp / f"{copy_of}.db")) as source, \
                        closing(sqlite3.connect(self._tmp / f"{name}.db")) as target:
                    source.backup(target)
            return name
        with self._admin.connect() as connection:
            if copy_of is None:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
            else:
                # A template must have no sessions: the set-up's pools are closed, but be sure.
                connection.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                        "WHERE datname = :name"), {"name": copy_of})
                connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{copy_of}"'))
        self._made.append(name)
        return name

    def close(self) -> None:
        if self._admin is None:
            return
        with self._admin.connect() as connection:
            for name in self._made:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self._admin.dispose()
