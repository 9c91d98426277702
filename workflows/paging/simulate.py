"""Who would be paged, when, and how — without sending anything (`firebell simulate`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from workflows.business_time import deadline as business_deadline
from workflows.catalog.model import Catalog
from workflows.intake.routing import is_production, service_environment
from workflows.model import Incident
from workflows.oncall.schedules import resolve_targets
from workflows.paging.clock_rules import clock_due, clocks_for
from workflows.paging.delivery import notification_plan
from workflows.paging.escalation import coverage_hours, coverage_opens, maintenance_at


@dataclass(frozen=True)
class PlannedPage:
    at: datetime
    round: int
    step: int
    person: str
    name: str
    channel: str
    local_time: str  # in the person's own zone: who is woken at 3 AM


@dataclass
class Plan:
    service: str
    team: str
    priority: str
    start: datetime
    environment: str = "production"
    pages: list[PlannedPage] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def escalation_plan(
    catalog: Catalog,
    *,
    service_id: str,
    at: datetime,
    priority: str | None = None,
    severity: str = "critical",
    urgency: str = "high",
    environment: str | None = None,
    channels: frozenset[str] = frozenset({"chat", "sms", "voice"}),
    drill: bool = False,
    flags: tuple[str, ...] = (),
) -> Plan:
    """The full escalation plan of an incident declared at `at`, assuming nobody acknowledges.

    The priority is `priority`, else the matrix's for `severity` and `urgency`; either way it is
    capped in a non-production environment, which is the service's own when it is not production
    (as intake does). Who is on call is evaluated at the moment each step would fire. An unknown
    service, priority, severity or urgency raises `UnknownEntity`, naming the known ones.
    """
    service = catalog.service(service_id)
    team = catalog.team(service.team)
    environment = service_environment(service, environment)
    wanted = priority.upper() if priority else catalog.priority_for(severity=severity,
                                                                    urgency=urgency)
    catalog.response_for(wanted)  # an unknown priority is a clear error
    priority = wanted if is_production(environment) else _no_better(catalog, wanted)
    response = catalog.response_for(priority)
    plan = Plan(service=service.id, team=team.id, priority=priority, start=at,
                environment=environment)
    if priority != wanted:
        plan.notes.append(f"{environment} is not production: {wanted} is capped at {priority}, "
                          "as intake caps it")
    incident = Incident(
        title="simulation", service=service.id, team=team.id, severity=severity, urgency=urgency,
        environment=environment, priority=priority, declared_at=at, drill=drill,
        flags=list(flags),
    )
    for clock in clocks_for(catalog, incident):
        plan.notes.append(f"{clock.name}: due {_local(clock_due(incident, clock), catalog.timezone)}")
    if not response.page:
        due = business_deadline(catalog.business_hours, start=at, duration=response.ack_within,
                                zone=catalog.business_zone)
        plan.notes.append(
            f"{priority} does not page: it goes to {team.name}'s queue; acknowledgement due by "
            f"{_local(due, catalog.business_zone)} ({response.ack_within}), then the team "
            "channel and the ticket are reminded"
        )
        return plan
    window = maintenance_at(catalog, service_id=service.id, at=at)
    start = at
    if window is not None:
        start = window.end
        plan.notes.append(f"maintenance window ({window.reason}): pages held until "
                          f"{_local(window.end, catalog.timezone)}")
    opens = coverage_opens(catalog, priority=priority, at=start)
    if opens is not None:
        start = opens
        zone = coverage_hours(catalog, priority)[1]
        plan.notes.append(f"{priority} outside coverage hours: queued until {_local(opens, zone)} "
                          "(at once if the priority rises or someone escalates)")
    if drill:
        plan.notes.append("drill: pages by chat only, with a DRILL banner")
    if not team.escalation_policy:
        plan.notes.append(f"team {team.id} has no escalation policy: nobody would be paged")
        return plan
    policy = catalog.policy(team.escalation_policy)
    moment = start
    for round in range(policy.repeat + 1):
        for index, step in enumerate(policy.steps):
            people = resolve_targets(catalog, targets=list(step.notify), at=moment)
            if not people:
                plan.notes.append(f"round {round + 1} step {index + 1}: nobody on call for "
                                  f"{', '.join(step.notify)} — a gap")
            for person_id in people:
                person = catalog.person(person_id)
                for page in notification_plan(catalog, incident=incident, person=person,
                                              available=channels):
                    when = moment + timedelta(seconds=page.delay_seconds)
                    plan.pages.append(PlannedPage(
                        at=when, round=round, step=index, person=person.id, name=person.name,
                        channel=page.channel, local_time=_local(when, catalog.person_zone(person.id)),
                    ))
            moment += timedelta(seconds=step.ack_timeout.seconds)
    plan.notes.append(f"no acknowledgement by {_local(moment, catalog.timezone)}: the policy is "
                      "exhausted and the channel is told")
    return plan


def _no_better(catalog: Catalog, priority: str) -> str:
    """`priority`, or the best a non-production environment may have if that is lower."""
    return max(priority, catalog.priorities.nonproduction, key=lambda p: int(p[1:]))


def _local(when: datetime, zone: str) -> str:
    return when.astimezone(ZoneInfo(zone)).strftime("%a %Y-%m-%d %H:%M %Z")
