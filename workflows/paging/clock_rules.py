"""Which notification clocks run for an incident, when each is due, and how they read.

Pure rules of the catalog and the incident, so that the channel topic can show them too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from workflows.catalog.model import Catalog, NotificationClock
from workflows.durations import format_duration
from workflows.model import Incident
from workflows.unit import Unit


def clocks_for(catalog: Catalog, incident: Incident) -> list[NotificationClock]:
    """The clocks whose `applies_to` meets the incident's flags."""
    return [c for c in catalog.notification_clocks if set(c.applies_to) & set(incident.flags)]


def clock_due(incident: Incident, clock: NotificationClock) -> datetime:
    """Counted from the declaration: when the incident was discovered."""
    return incident.declared_at + timedelta(seconds=clock.within.seconds)


@dataclass(frozen=True)
class ClockStatus:
    """A running clock as facts; templates/clock.j2 says it."""

    name: str
    due: datetime
    left: str | None  # e.g. "3h 20m" while it runs
    overdue: str | None  # e.g. "1h" once it passed


def running_clocks(
    catalog: Catalog, incident: Incident, *, now: datetime, met: frozenset[str] = frozenset()
) -> list[ClockStatus]:
    """The clocks still running (not in `met`), for the topic and the channel."""
    found = []
    for clock in clocks_for(catalog, incident):
        if clock.id in met:
            continue
        due = clock_due(incident, clock)
        left = int((due - now).total_seconds())
        found.append(ClockStatus(clock.name, due, format_duration(left) if left > 0 else None,
                                 format_duration(-left) if left <= 0 else None))
    return found


def met_clocks(uow: Unit, incident: Incident) -> frozenset[str]:
    """The clocks of the incident marked done (`/incident notified`)."""
    assert incident.id is not None
    return frozenset(str(e.data.get("clock")) for e in uow.timeline.events(incident.id)
                     if e.kind == "clock_met")
