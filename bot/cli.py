"""The command line's manners: every error is one line `firebell: error: <what and where>` on
stderr, exit status 2 for a usage error (a bad argument) and 1 for anything else (a missing or
broken catalog, a database that cannot be opened, a bad setting, a refused token). A traceback
only with `--debug` or LOG_LEVEL=DEBUG."""

from __future__ import annotations

import argparse
import re
import textwrap
import tomllib
from importlib import metadata
from pathlib import Path
from typing import NoReturn

from bot.logs import one_line
from bot.settings import Settings
from workflows.catalog.model import CatalogError
from workflows.errors import FirebellError

USAGE = 2  # exit status of a usage error (argparse's own convention)
FAILURE = 1
PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
_PASSWORD = re.compile(r"(//[^/:@]*:)[^/@]*@")  # the password of scheme://user:password@host


class UsageError(FirebellError):
    """The command line is wrong (an unknown option, a value that cannot be one): exit 2."""


class Parser(argparse.ArgumentParser):
    """argparse whose errors are one line (no usage block): `firebell: error: demo: argument
    --speed: invalid float value: 'abc' (firebell demo --help)`."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("firebell").strip()
        where = f"{command}: " if command else ""
        raise UsageError(f"{where}{message} (see `{self.prog} --help`)")


def hide_password(url: str) -> str:
    """`url` with the password of its user part replaced by `***`."""
    return _PASSWORD.sub(r"\1***@", url)


def error_line(error: BaseException, *, database: str | None) -> tuple[str, int]:
    """The one line saying what went wrong and where, and the exit status.
    `database` is the URL the command works on (its password is hidden)."""
    from alembic.util.exc import CommandError
    from sqlalchemy.exc import DBAPIError, SQLAlchemyError

    code = FAILURE
    if isinstance(error, UsageError):
        what, code = str(error), USAGE
    elif isinstance(error, CatalogError):
        first, *others = error.problems or [str(error)]
        what = first + (f" (and {len(others)} more: `firebell config check` lists them all)"
                        if others else "")
    elif isinstance(error, FirebellError):
        what = str(error)
    elif isinstance(error, SQLAlchemyError | CommandError):
        reason = error.orig if isinstance(error, DBAPIError) and error.orig else error
        first_line = next((line for line in str(reason).splitlines() if line.strip()), "")
        where = f"database {hide_password(database)}" if database else "the database"
        what = f"{where}: {first_line.removeprefix('(Background on this error').strip()}"
    elif isinstance(error, OSError):
        where = f"{error.filename}: " if error.filename else ""
        what = f"{where}{error.strerror or error}"
    else:
        what = (f"unexpected {type(error).__name__}: {error} (run with --debug for the "
                "traceback, and please report it)")
    return f"firebell: error: {one_line(what, limit=1000)}", code


def version() -> str:
    """The installed package's version, else the one pyproject.toml next to this code says."""
    try:
        return metadata.version("firebell")
    except metadata.PackageNotFoundError:
        pass
    try:
        return str(tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


def settings_help() -> str:
    """Every setting (environment variable, meaning, default), from Settings' own fields."""
    lines = textwrap.wrap("settings: read from the environment and from a `.env` file in the "
                          "working directory (the environment wins):", width=80)
    for name, field in Settings.model_fields.items():
        default = str(field.default).lower() if isinstance(field.default, bool) else field.default
        shown = "" if default is None else f" (default: {default})"
        text = f"{field.description or ''}{shown}"
        wrapped = textwrap.wrap(text, width=76, initial_indent=" " * 4, subsequent_indent=" " * 4)
        lines += [f"  {name.upper()}", *wrapped]
    return "\n".join(lines)
