"""A catalog read from another on-call tool (`firebell import ...`): the catalog's sections as
plain data, with the notes a person must read about what the mapping lost, and the port an
importer implements (adapters/importing/)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from workflows.oncall.compare import SourceShift


@dataclass
class Imported:
    """A catalog read from a source, with what the person must know about it.

    `catalog` holds the sections as YAML-ready data (dicts, lists, str, int), keys in the order
    they are written; `comments` maps a place in it ("schedules[2]", "schedules[2].layers[0]",
    "escalation_policies[0].steps[1]", a top-level key "services") to the lines written as
    comments above it, saying what the mapping lost.
    """

    source: str  # "PagerDuty", "Grafana OnCall"
    catalog: dict[str, Any]
    comments: dict[str, list[str]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)  # "people": 50, "schedules": 10 ...
    unmapped: list[str] = field(default_factory=list)  # what could not be mapped, and why
    check_by_hand: list[str] = field(default_factory=list)
    schedule_ids: dict[str, str] = field(default_factory=dict)  # source schedule id -> catalog id
    person_ids: dict[str, str] = field(default_factory=dict)  # source user id -> catalog id

    def comment(self, where: str, text: str) -> None:
        """Note a lossy mapping at `where`; the same note twice is written once."""
        lines = self.comments.setdefault(where, [])
        if text not in lines:
            lines.append(text)


class ImportSource(Protocol):
    name: str  # "PagerDuty"

    def fetch(self, *, now: datetime) -> Imported:
        """Everything the source has, mapped; overrides from `now` on."""
        ...

    def final_shifts(self, imported: Imported, *, start: datetime, end: datetime
                     ) -> list[SourceShift]:
        """Who the source says is on call for each schedule of `imported` in [start, end)."""
        ...
