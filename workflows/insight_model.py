"""Records of the insights (workflows/insights.py) that the store hands over."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


# Records the store hands over ---------------------------------------------------------------
@dataclass(frozen=True)
class IncidentFacts:
    """What the metrics need of one incident (one row, no timeline)."""

    id: int
    service: str
    team: str
    priority: str
    declared_at: datetime
    declared_by: str | None
    acknowledged_at: datetime | None
    mitigated_at: datetime | None
    resolved_at: datetime | None
    first_signal_at: datetime | None  # earliest start of its alerts; None: no alert
    cause: str | None  # the postmortem's cause tag
    fingerprints: tuple[str, ...] = ()  # "<source>/<dedup key>" of its alerts


@dataclass(frozen=True)
class IncidentQuery:
    """Filters of an incident listing; `state`: "open" | "all"."""

    state: str = "open"
    team: str | None = None
    service: str | None = None
    priority: str | None = None
    since: datetime | None = None  # declared at or after
    until: datetime | None = None  # declared before
    limit: int = 50
    before_id: int | None = None  # the cursor: incidents with a smaller id (newest first)


class InsightRecords(Protocol):
    """The reads behind the insights, in one store transaction."""

    def incident_facts(self, *, since: datetime, until: datetime) -> list[IncidentFacts]:
        """Incidents declared in [since, until], not drills, oldest first."""
        ...

    def find_incidents(self, query: IncidentQuery) -> list[int]:
        """Ids of the incidents matching `query`, newest (highest id) first, at most
        `query.limit`."""
        ...
