"""Read-only answers: who is on call, open incidents, an incident's timeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from workflows.catalog.model import Catalog
from workflows.context import Context
from workflows.model import Incident, TimelineEvent
from workflows.oncall.schedules import LayerStatus, layer_status, next_handoff, on_call
from workflows.ports import InvalidRequest


@dataclass(frozen=True)
class OnCallAnswer:
    schedule: str
    team: str
    now: list[str]
    next_at: datetime | None
    next_people: list[str]
    layers: list[LayerStatus] = field(default_factory=list)  # each layer's own now and next


def schedules_for(catalog: Catalog, query: str | None) -> list[str]:
    """Schedule ids for a team, service or schedule name; every schedule when `query` is empty."""
    if not query:
        return [s.id for s in catalog.schedules]
    name = query.strip().lstrip("#@").lower()
    for schedule in catalog.schedules:
        if schedule.id.lower() == name:
            return [schedule.id]
    for team in catalog.teams:
        if name in (team.id.lower(), team.name.lower()):
            return [s.id for s in catalog.schedules_of_team(team.id)]
    for service in catalog.services:
        if name in (service.id.lower(), service.name.lower()):
            return [s.id for s in catalog.schedules_of_team(service.team)]
    known = ", ".join(sorted([t.id for t in catalog.teams] + [s.id for s in catalog.services]))
    raise InvalidRequest(f"no team, service or schedule called '{query}'. Known: {known}")


def who_is_on_call(catalog: Catalog, *, query: str | None, at: datetime) -> list[OnCallAnswer]:
    """Who is on call now and who comes next, per schedule."""
    answers = []
    for schedule_id in schedules_for(catalog, query):
        following = next_handoff(catalog, schedule_id=schedule_id, at=at)
        answers.append(
            OnCallAnswer(
                schedule=schedule_id,
                team=catalog.schedule(schedule_id).team,
                now=on_call(catalog, schedule_id=schedule_id, at=at),
                next_at=following[0] if following else None,
                next_people=following[1] if following else [],
                layers=layer_status(catalog, schedule_id=schedule_id, at=at),
            )
        )
    return answers


def open_incidents(ctx: Context) -> list[Incident]:
    with ctx.unit() as uow:
        return uow.incidents.list_incidents(open_only=True)


def timeline(ctx: Context, *, incident_id: int) -> tuple[Incident, list[TimelineEvent]]:
    with ctx.unit() as uow:
        return uow.incidents.get_incident(incident_id), uow.timeline.events(incident_id)
