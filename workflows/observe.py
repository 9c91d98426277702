"""What operators watch: one log line and one measurement per thing that happened.

A workflow calls these after the fact it reports is committed (`uow.after_commit`), so a rolled
back step is neither logged nor counted. Each writes one INFO line on the `firebell.events`
logger (key=value words an operator can grep, never a secret or a message body) and tells the
`Meter` (Prometheus in `serve`, nothing elsewhere).

Metric names (a `Meter` turns them into `firebell_<name>`):
- pages_total{channel, outcome}: sent | failed | cancelled | acknowledged
- escalations_total{reason}: timeout | handed_on
- acknowledgements_total{priority}, time_to_acknowledge_seconds{priority} (histogram)
- resolutions_total{priority}, time_to_resolve_seconds{priority} (histogram)
- incidents_opened_total{priority, source}: declared | alert | report
- signals_total{source, outcome}: the intake's accepted signals (opened, joined, resolved ...)
- deadline_lateness_seconds (histogram): how late a due deadline was acted on
- external_errors_total{service}: chat, pager, tickets, email, status_page
"""

from __future__ import annotations

import json
import logging
from typing import Protocol

log = logging.getLogger("firebell.events")


class Meter(Protocol):
    """Where measurements go (adapters/metrics.py: Prometheus)."""

    def count(self, name: str, *, amount: float = 1.0, **labels: str) -> None: ...

    def observe(self, name: str, value: float, **labels: str) -> None: ...


class NoMeter:
    """Measurements nobody collects (console, demo, tests that do not look)."""

    def count(self, name: str, *, amount: float = 1.0, **labels: str) -> None:
        return None

    def observe(self, name: str, value: float, **labels: str) -> None:
        return None


def _line(event: str, **fields: object) -> None:
    """`event key=value ...`; the fields also ride on the record (`event`, `fields`), so a JSON
    log (bot/logs.py) gets them as keys."""
    given = {key: value for key, value in fields.items() if value is not None}
    words = " ".join(f"{key}={_word(value)}" for key, value in given.items())
    log.info("%s %s", event, words, extra={"event": event, "fields": given})


def _word(value: object) -> str:
    text = str(value)
    return json.dumps(text) if not text or any(c in text for c in ' "=') else text


def page_sent(meter: Meter, *, incident: str, person: str, channel: str, attempt: int,
              outcome: str, error: str | None = None) -> None:
    """A page's delivery ended: `outcome` sent | failed."""
    _line("page", incident=incident, person=person, channel=channel, attempt=attempt,
          outcome=outcome, error=error)
    meter.count("pages_total", channel=channel, outcome=outcome)


def pages_settled(meter: Meter, *, channel: str, outcome: str, count: int) -> None:
    """Pages that ended without a delivery of theirs: cancelled | acknowledged."""
    if count:
        meter.count("pages_total", amount=count, channel=channel, outcome=outcome)


def escalated(meter: Meter, *, incident: str, step: int, round: int, people: int,
              reason: str) -> None:
    _line("escalation", incident=incident, step=step + 1, round=round + 1, paged=people,
          reason=reason)
    meter.count("escalations_total", reason=reason)


def acknowledged(meter: Meter, *, incident: str, priority: str, person: str,
                 after_seconds: float) -> None:
    _line("acknowledged", incident=incident, priority=priority, by=person,
          after=f"{after_seconds:.0f}s")
    meter.count("acknowledgements_total", priority=priority)
    meter.observe("time_to_acknowledge_seconds", after_seconds, priority=priority)


def resolved(meter: Meter, *, incident: str, priority: str, by: str | None,
             after_seconds: float) -> None:
    _line("resolved", incident=incident, priority=priority, by=by, after=f"{after_seconds:.0f}s")
    meter.count("resolutions_total", priority=priority)
    meter.observe("time_to_resolve_seconds", after_seconds, priority=priority)


def incident_opened(meter: Meter, *, incident: str, priority: str, source: str,
                    service: str) -> None:
    _line("incident", incident=incident, priority=priority, source=source, service=service)
    meter.count("incidents_opened_total", priority=priority, source=source)


def signal_accepted(meter: Meter, *, source: str, outcome: str, incident: str | None,
                    key: str | None = None) -> None:
    _line("signal", source=source, outcome=outcome, incident=incident, key=key)
    meter.count("signals_total", source=source, outcome=outcome)


def deadline_ran(meter: Meter, *, kind: str, late_seconds: float) -> None:
    meter.observe("deadline_lateness_seconds", max(0.0, late_seconds), kind=kind)


def external_error(meter: Meter, *, service: str) -> None:
    meter.count("external_errors_total", service=service)
