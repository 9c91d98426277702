"""Routing: an alert's labels -> service -> team -> escalation policy, and its priority.

Every alert must answer: which service, which team owns the next action, page or ticket? One
that cannot is not ready for on-call; it is kept as unrouted and the catalog's owners hear of it.
"""

from __future__ import annotations

from dataclasses import dataclass

from workflows.catalog.model import Catalog, Service

# Words monitoring tools use for severity, mapped onto the matrix's usual rows.
_SEVERITY_WORDS = {
    "critical": "critical", "crit": "critical", "page": "critical", "fatal": "critical",
    "emergency": "critical", "high": "critical", "p1": "critical", "sev1": "critical",
    "major": "major", "error": "major", "err": "major", "p2": "major", "sev2": "major",
    "minor": "minor", "warning": "minor", "warn": "minor", "info": "minor", "low": "minor",
    "p3": "minor", "p4": "minor", "sev3": "minor", "sev4": "minor", "none": "minor",
}  # fmt: skip
_PRODUCTION = ("production", "prod")


@dataclass(frozen=True)
class Route:
    service: str
    team: str
    policy: str | None
    severity: str
    urgency: str
    environment: str
    priority: str


@dataclass(frozen=True)
class Unrouted:
    reason: str


def route(catalog: Catalog, labels: dict[str, str]) -> Route | Unrouted:
    """Where an alert with these labels goes, or why it goes nowhere."""
    service = catalog.match_service(labels) or _named(catalog, labels.get("service"))
    if service is None:
        return Unrouted(_no_service(catalog, labels))
    team = catalog.team(service.team)
    severity = triage_severity(catalog, labels.get("severity", ""))
    if severity is None:
        known = ", ".join(catalog.priorities.matrix)
        return Unrouted(f"severity {labels.get('severity', '')!r} is not one of {known}")
    row = catalog.priorities.matrix[severity]
    urgency = labels.get("urgency", "").strip().lower()
    if urgency not in row:
        urgency = "high" if "high" in row else next(iter(row))
    environment = service_environment(service, labels.get("environment") or labels.get("env"))
    priority = catalog.priority_for(severity=severity, urgency=urgency, environment=environment)
    return Route(
        service=service.id, team=team.id, policy=team.escalation_policy, severity=severity,
        urgency=urgency, environment=environment, priority=priority,
    )


def service_environment(service: Service, asked: str | None) -> str:
    """The environment of a signal on `service`: the one `asked` (an alert label, an option),
    else the service's; a non-production service is always its own (a staging service never
    pages as production)."""
    if not is_production(service.environment):
        return service.environment
    return (asked or service.environment).lower()


def is_production(environment: str) -> bool:
    return environment.strip().lower() in _PRODUCTION


def triage_severity(catalog: Catalog, value: str) -> str | None:
    """The matrix row for a severity label: the row's own name, or a common monitoring word."""
    word = value.strip().lower()
    matrix = catalog.priorities.matrix
    if word in matrix:
        return word
    mapped = _SEVERITY_WORDS.get(word or "none")
    if mapped in matrix:
        return mapped
    return None if word else _lowest(catalog)


def _lowest(catalog: Catalog) -> str | None:
    # No severity label at all: the least severe row, so an unlabelled alert never pages.
    return list(catalog.priorities.matrix)[-1] if catalog.priorities.matrix else None


def _named(catalog: Catalog, service_id: str | None) -> Service | None:
    # `service=<id>` names a service even without `match` labels (reports, PagerDuty components).
    return next((s for s in catalog.services if s.id == service_id), None) if service_id else None


def _no_service(catalog: Catalog, labels: dict[str, str]) -> str:
    keys = sorted({k for s in catalog.services for k in s.match})
    if not keys:
        return "the catalog has no service with `match` labels"
    shown = ", ".join(f"{k}={labels[k]!r}" for k in keys if k in labels) or "none of them"
    return f"no service matches its labels (services match on {', '.join(keys)}; alert has {shown})"
