"""Incident and page numbers as people and URLs write them: `12`, `#12`, `INC-12`."""

from __future__ import annotations

import re

from workflows.ports import InvalidRequest

# Ids are the database's INTEGER keys (32-bit on PostgreSQL): a larger number names nothing,
# and would overflow the query before the database could say so.
MAX_ID = 2**31 - 1
_INCIDENT = re.compile(r"^(?:#|INC-)?([0-9]+)$", re.IGNORECASE)


def incident_number(text: str) -> int | None:
    """The incident `text` names (`12`, `#12`, `INC-12`), None when it is not written like one;
    InvalidRequest for a number no incident can have."""
    match = _INCIDENT.match(text.strip())
    if match is None:
        return None
    number = database_id(match.group(1))
    if number is None:
        raise InvalidRequest(
            f"there is no incident {text.strip()[:40]}: incident numbers go up to {MAX_ID}")
    return number


def database_id(digits: str) -> int | None:
    """`digits` as an id (at most MAX_ID), or None."""
    if not (digits.isascii() and digits.isdigit()) or len(digits.lstrip("0")) > len(str(MAX_ID)):
        return None
    number = int(digits)
    return number if number <= MAX_ID else None


def split_ref(text: str) -> tuple[int | None, str]:
    """The incident named by the first word of `text` (None when it names none) and the rest."""
    first, _, remainder = text.strip().partition(" ")
    number = incident_number(first)
    return (number, remainder.strip()) if number is not None else (None, text.strip())


def after_ref(text: str) -> str:
    """`text` without the incident named first, if any (no error for a number out of range)."""
    first, _, remainder = text.strip().partition(" ")
    return remainder.strip() if _INCIDENT.match(first) else text.strip()
