"""Records of schedule changes made outside the catalog file: versions, overrides, offers.

Plain dataclasses; `storage/schedule_store.py` maps them to tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class StoredOverride:
    """`person` is on call from `start` to `end` (aware UTC); later overrides win over earlier."""

    person: str
    start: datetime
    end: datetime
    by: str | None = None
    reason: str = ""


@dataclass(frozen=True)
class ScheduleVersion:
    """One version of a schedule: the catalog's schedule (`base`) plus overrides made in chat.

    `catalog_digest` is the digest of the catalog file's schedule when this version was made; a
    reload that changes it makes a new version. An undo copies `base` and `overrides` of an
    earlier version but keeps the digest, so the next reload does not undo the undo.
    """

    schedule: str
    number: int
    at: datetime
    author: str
    reason: str
    catalog_digest: str
    base: dict[str, Any]
    overrides: tuple[StoredOverride, ...] = ()
    restores: int | None = None  # an undo: the number of the version it brought back
    id: int | None = None


@dataclass
class Offer:
    """A shift someone wants taken (`swap`) or covered (`cover`); the first taker gets it."""

    schedule: str
    person: str
    start: datetime
    end: datetime
    kind: str  # "swap" | "cover"
    created_at: datetime
    taken_by: str | None = None
    taken_at: datetime | None = None
    id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
