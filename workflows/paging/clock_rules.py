"""Which notification clocks run for an incident, when each is due, and how they read.

Pure rules of the catalog and the incident, so that the channel topic can show them too.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

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


def clock_lines(
    catalog: Catalog, incident: Incident, *, now: datetime, met: frozenset[str] = frozenset()
) -> list[str]:
    """One line per running clock (not in `met`), in the catalog's zone, for the topic and the
    channel."""
    lines = []
    for clock in clocks_for(catalog, incident):
        if clock.id in met:
            continue
        due = clock_due(incident, clock)
        left = int((due - now).total_seconds())
        when = due.astimezone(ZoneInfo(catalog.timezone)).strftime("%Y-%m-%d %H:%M %Z")
        status = f"{format_duration(left)} left" if left > 0 else f"OVERDUE by {format_duration(-left)}"
        lines.append(f":stopwatch: {clock.name}: due {when} ({status})")
    return lines


def met_clocks(uow: Unit, incident: Incident) -> frozenset[str]:
    """The clocks of the incident marked done (`/incident notified`)."""
    assert incident.id is not None
    return frozenset(str(e.data.get("clock")) for e in uow.timeline.events(incident.id)
                     if e.kind == "clock_met")
