"""Engine creation: SQLite in WAL mode with BEGIN IMMEDIATE writes, or PostgreSQL; and a probe
of whether the database can be written right now."""

from __future__ import annotations

import math
import sqlite3
from dataclasses import asdict, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event

MIGRATIONS = Path(__file__).parent / "migrations"


def aware(value: Any) -> Any:
    """A value read back: SQLite hands back naive datetimes; everything stored is UTC."""
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def utc(value: Any) -> Any:
    """A value to store: every datetime goes in as UTC (SQLite keeps no zone and compares them
    as text), a naive one taken as UTC already."""
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return value


def to_row(record: Any) -> dict[str, Any]:
    """A domain record (a dataclass) as the values of its row."""
    return {key: utc(value) for key, value in asdict(record).items()}


def from_row(row: Any, cls: type) -> dict[str, Any]:
    """A row's values for the domain record `cls` (a dataclass), datetimes aware."""
    return {f.name: aware(getattr(row, f.name)) for f in fields(cls)}


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def make_engine(url: str) -> Engine:
    """An engine for `url`. SQLite gets WAL, a busy timeout and `BEGIN IMMEDIATE` transactions,
    so two writers queue instead of failing half-way with 'database is locked'."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if not is_sqlite(url):
        # Room for the dispatcher's 16 workers, the scheduler and the web threads without
        # opening and closing overflow connections under load (each a new server process).
        return create_engine(url, pool_pre_ping=True, pool_size=24, max_overflow=16)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy drive transactions itself so that we can say IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A reading transaction takes no write lock (WAL: readers never wait for the writer).
        reading = connection.get_execution_options().get("firebell_reading", False)
        connection.exec_driver_sql("BEGIN" if reading else "BEGIN IMMEDIATE")

    return engine


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str) -> None:
    """Bring the database schema to the newest migration (`firebell db upgrade`)."""
    command.upgrade(alembic_config(url), "head")


def writable(engine: Engine, *, timeout: float = 1.0) -> str | None:
    """None when the database of `engine` takes a write now, else why not: "locked", "read-only",
    "unreachable: <error>" or "unwritable: <error>". Nothing is committed.

    The probe opens a connection of its own with short timeouts instead of borrowing one from the
    pool: a pooled SQLite connection waits 30 s on a lock (the busy timeout that lets writers
    queue), and a pool that is used up waits as well. `timeout` bounds each wait on a lock or a
    statement; connecting to PostgreSQL takes at least 2 s to give up (libpq's minimum), so a
    caller that must answer sooner bounds the call itself.
    """
    if engine.dialect.name == "sqlite":
        return _sqlite_writable(engine, timeout=timeout)
    return _postgres_writable(engine, timeout=timeout)


def _sqlite_writable(engine: Engine, *, timeout: float) -> str | None:
    args, params = engine.dialect.create_connect_args(engine.url)
    database = str(args[0]) if args else ":memory:"
    if database == ":memory:":
        return None  # private to each connection: nothing else can lock or remove it
    if not params.get("uri"):
        # mode=rw: where the database file has gone, the probe must not create an empty one.
        database = Path(database).resolve().as_uri() + "?mode=rw"
    try:
        connection = sqlite3.connect(
            database, uri=True, timeout=timeout, isolation_level=None, check_same_thread=False
        )
    except sqlite3.Error as error:
        return f"unreachable: {error}"
    try:
        # Waits up to `timeout` for another writer, then fails with SQLITE_BUSY.
        connection.execute("BEGIN IMMEDIATE")
        # The write lock alone proves little: a file opened read-only (no permission, a
        # read-only mount) still grants it. Setting the header's user_version to itself is a
        # write that touches no table; it is rolled back.
        (version,) = connection.execute("PRAGMA user_version").fetchone()
        connection.execute(f"PRAGMA user_version = {int(version)}")
        connection.execute("ROLLBACK")
    except sqlite3.Error as error:
        name = getattr(error, "sqlite_errorname", "")
        if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
            return "locked"
        if name.startswith("SQLITE_READONLY"):
            return "read-only"
        if name.startswith(("SQLITE_CANTOPEN", "SQLITE_NOTADB")):
            return f"unreachable: {error}"
        return f"unwritable: {error}"
    finally:
        connection.close()
    return None


def _postgres_writable(engine: Engine, *, timeout: float) -> str | None:
    dbapi = engine.dialect.loaded_dbapi
    args, params = engine.dialect.create_connect_args(engine.url)
    params["connect_timeout"] = max(2, math.ceil(timeout))  # whole seconds, at least 2 (libpq)
    try:
        connection = dbapi.connect(*args, **params)
    except dbapi.Error as error:
        return f"unreachable: {_first_line(error)}"
    try:
        cursor = connection.cursor()
        milliseconds = max(1, int(timeout * 1000))
        cursor.execute(f"SET LOCAL lock_timeout = {milliseconds}")
        cursor.execute(f"SET LOCAL statement_timeout = {milliseconds}")
        cursor.execute("SELECT pg_is_in_recovery()")
        if cursor.fetchone()[0]:
            return "read-only"  # a standby: writes go to the primary
        cursor.execute("SHOW transaction_read_only")  # default_transaction_read_only and the like
        if cursor.fetchone()[0] == "on":
            return "read-only"
        # Taking a transaction id is what any write does first; it fails on a read-only
        # transaction and when the server refuses writes (wraparound protection).
        cursor.execute("SELECT txid_current()")
    except dbapi.Error as error:
        code = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
        if code == "25006":  # read_only_sql_transaction
            return "read-only"
        if code == "55P03":  # lock_not_available: waited longer than lock_timeout
            return "locked"
        if code == "57014":  # query_canceled: statement_timeout
            return f"no answer within {timeout:g} s"
        return f"unwritable: {_first_line(error)}"
    finally:
        connection.close()  # without a commit: the probe's transaction is rolled back
    return None


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
