"""Detection and response metrics of one incident, read from its record and timeline.

TTD: impact start -> declaration (known only when a signal said when impact began).
TTA: declaration -> first acknowledgement. TTM and TTR: impact start -> mitigated / resolved,
where the impact start is the declaration when nothing earlier is known.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from workflows.durations import format_duration
from workflows.errors import InvalidRequest
from workflows.model import Incident, TimelineEvent
from workflows.times import parse_time

# Keys a signal (an alert's `startsAt`) may leave on the declaring event.
_START_KEYS = ("impact_started_at", "started_at", "starts_at")


@dataclass(frozen=True)
class IncidentMetrics:
    impact_started_at: datetime
    start_known: bool
    ttd: int | None  # seconds
    tta: int | None
    ttm: int | None
    ttr: int | None
    pages: int
    escalations: int
    status_updates: int

    def formatted(self) -> dict[str, str]:
        """"12m 30s" per metric, "—" where it is not known (yet)."""
        def text(seconds: int | None) -> str:
            return "—" if seconds is None else format_duration(seconds)

        return {"ttd": text(self.ttd), "tta": text(self.tta), "ttm": text(self.ttm),
                "ttr": text(self.ttr)}


def incident_metrics(incident: Incident, events: list[TimelineEvent]) -> IncidentMetrics:
    started = _impact_start(events)
    start = min(started, incident.declared_at) if started else incident.declared_at
    acked = next((e.at for e in events if e.kind == "acknowledged"), incident.acknowledged_at)
    mitigated = next((e.at for e in events if e.kind == "mitigated"), incident.mitigated_at)
    resolved = incident.resolved_at or next(
        (e.at for e in reversed(events) if e.kind == "resolved"), None
    )

    def since(begin: datetime, end: datetime | None) -> int | None:
        return None if end is None else max(0, int((end - begin).total_seconds()))

    return IncidentMetrics(
        impact_started_at=start,
        start_known=started is not None,
        ttd=since(start, incident.declared_at) if started is not None else None,
        tta=since(incident.declared_at, acked),
        ttm=since(start, mitigated or resolved),
        ttr=since(start, resolved),
        pages=sum(1 for e in events if e.kind == "paged"),
        escalations=sum(1 for e in events if e.kind == "escalated"),
        status_updates=sum(1 for e in events if e.kind == "status_update"),
    )


def _impact_start(events: list[TimelineEvent]) -> datetime | None:
    """The earliest impact start any event reports (an alert's startsAt, a person's estimate)."""
    starts = []
    for event in events:
        for key in _START_KEYS:
            value = event.data.get(key)
            if isinstance(value, str):
                try:
                    starts.append(parse_time(value, zone="UTC", what=key))
                except InvalidRequest:
                    continue  # a start nobody can read measures nothing
    return min(starts, default=None)
