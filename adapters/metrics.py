"""Prometheus behind the `Meter` port (workflows/observe.py), on prometheus_client's default
registry, so that `/metrics` also carries the process and Python collectors that come with it.

Every metric is declared here, once per process, at import: a registry holds one metric per
name, and a test process builds many Firebells. A name the table does not know, or labels other
than its own, is a programming error and raises: tests/adapters/test_metrics.py checks that every
name observe.py (and the HTTP layer) uses is declared with the labels it is given.
"""

from __future__ import annotations

from typing import TypeVar

from prometheus_client import Counter, Histogram

PREFIX = "firebell_"

# Time to acknowledge: a page answered in seconds, up to a P3 nobody looked at for two hours.
TTA_BUCKETS = (10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200)
# Time to resolve: a blip closed in a minute, up to an outage that lasts a long weekend.
TTR_BUCKETS = (60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 172800, 259200)
# How late a due deadline was acted on: milliseconds when healthy, a minute when a poll had to.
LATENESS_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

_COUNTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "pages_total": ("Pages by channel and how they ended: sent, failed, cancelled, acknowledged",
                    ("channel", "outcome")),
    "escalations_total": ("Escalations to the next step, by reason: timeout, handed_on",
                          ("reason",)),
    "acknowledgements_total": ("Incidents acknowledged, by priority", ("priority",)),
    "resolutions_total": ("Incidents resolved, by priority", ("priority",)),
    "incidents_opened_total": ("Incidents opened, by priority and source: declared, alert, report",
                               ("priority", "source")),
    "signals_total": ("Accepted signals (alerts, events), by source and what they did",
                      ("source", "outcome")),
    "external_errors_total": ("Failed calls to an outside service: chat, pager, tickets, email, "
                              "status_page", ("service",)),
    # Counted by the HTTP layer (bot/webhooks.py, bot/http_guard.py, bot/server.py).
    "webhook_requests_total": ("Inbound webhook requests by endpoint and answer: accepted or "
                               "the status refused with (400, 401, 404, 413, 429, 503 ...)",
                               ("endpoint", "outcome")),
}
_HISTOGRAMS: dict[str, tuple[str, tuple[str, ...], tuple[float, ...]]] = {
    "time_to_acknowledge_seconds": ("From the incident opening to its acknowledgement",
                                    ("priority",), TTA_BUCKETS),
    "time_to_resolve_seconds": ("From the incident opening to its resolution", ("priority",),
                                TTR_BUCKETS),
    "deadline_lateness_seconds": ("How long after it fell due a deadline was acted on",
                                  ("kind",), LATENESS_BUCKETS),
}

# The metrics themselves: module level, so registered on the default registry exactly once.
COUNTERS: dict[str, Counter] = {
    name: Counter(PREFIX + name, text, labels) for name, (text, labels) in _COUNTERS.items()
}
HISTOGRAMS: dict[str, Histogram] = {
    name: Histogram(PREFIX + name, text, labels, buckets=buckets)
    for name, (text, labels, buckets) in _HISTOGRAMS.items()
}
LABELS: dict[str, tuple[str, ...]] = {
    **{name: labels for name, (_, labels) in _COUNTERS.items()},
    **{name: labels for name, (_, labels, _) in _HISTOGRAMS.items()},
}


M = TypeVar("M", Counter, Histogram)


class UnknownMetric(LookupError):
    """A measurement under a name (or labels) nobody declared: a programming error."""


class PrometheusMeter:
    """The `Meter` of `serve`: counts and observations on the process's default registry."""

    def count(self, name: str, *, amount: float = 1.0, **labels: str) -> None:
        counter = COUNTERS.get(name)
        if counter is None:
            raise UnknownMetric(f"no counter {name!r}: declare it in adapters/metrics.py")
        self._child(counter, name, labels).inc(amount)

    def observe(self, name: str, value: float, **labels: str) -> None:
        histogram = HISTOGRAMS.get(name)
        if histogram is None:
            raise UnknownMetric(f"no histogram {name!r}: declare it in adapters/metrics.py")
        self._child(histogram, name, labels).observe(value)

    @staticmethod
    def _child(metric: M, name: str, labels: dict[str, str]) -> M:
        if set(labels) != set(LABELS[name]):
            raise UnknownMetric(f"{name} takes labels {sorted(LABELS[name])}, "
                                f"not {sorted(labels)}")
        return metric.labels(**{key: str(value) for key, value in labels.items()})
