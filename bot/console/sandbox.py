"""The console and the demo are sandboxes: which database they use, and how they say so.

They never touch the database `serve` uses unless given it explicitly. Their context is built by
the composition root (`app.build_console_context`) and handed in as a `ContextBuilder`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from workflows.context import Context
from workflows.ports import ChatPort, Clock, PagerPort, Timers

# The console's database unless given one: a file of its own, so that a practice incident is never
# seen (and paged) by `serve`, whose DATABASE_URL defaults to sqlite:///firebell.db.
CONSOLE_DATABASE = "firebell-console.db"  # a SQLite file in the working directory


class ContextBuilder(Protocol):
    def __call__(
        self, *, catalog_path: Path | str, database_url: str, clock: Clock, timers: Timers,
        chat: ChatPort, pagers: dict[str, PagerPort],
    ) -> Context: ...


def sandbox_database_url(database: str) -> str:
    """A database given to the console or the demo: a URL as it is, a path as a SQLite file."""
    if "://" in database:
        return database
    return f"sqlite:///{Path(database).resolve()}"


def describe_database(url: str, *, serve_url: str | None) -> str:
    """The sandbox's database for its banner: the URL without its password, and a warning when
    it is the one `serve` uses (given explicitly: allowed, but never silently)."""
    from sqlalchemy.engine import make_url

    shown = make_url(url).render_as_string(hide_password=True)
    if serve_url and _same_database(url, serve_url):
        shown += (" — ⚠ the database `firebell serve` uses (DATABASE_URL): incidents declared"
                  " here are real to it, and it pages for them")
    return shown


def _same_database(a: str, b: str) -> bool:
    from sqlalchemy.engine import make_url

    first, second = make_url(a), make_url(b)
    if first.get_backend_name() == second.get_backend_name() == "sqlite":
        files = [u.database for u in (first, second)]
        if not all(files) or ":memory:" in files:
            return False
        return Path(files[0] or "").resolve() == Path(files[1] or "").resolve()

    def where(url: Any) -> tuple[object, ...]:
        backend = url.get_backend_name()
        port = url.port or {"postgresql": 5432, "mysql": 3306}.get(backend)
        return (backend, url.host, port, url.database)

    return where(first) == where(second)
