"""Read-only answers: who is on call, open incidents, an incident's timeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from difflib import get_close_matches

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


@dataclass(frozen=True)
class Choice:
    """One thing a name may mean: a team, service or schedule, and the query that names it."""

    kind: str  # "team" | "service" | "schedule"
    id: str
    name: str


class Ambiguous(InvalidRequest):
    """A name that fits several teams, services or schedules (or none, but looks like some)."""

    def __init__(self, query: str, choices: list[Choice], *, close: bool = False) -> None:
        self.query, self.choices, self.close = query, choices, close
        names = ", ".join(f"{c.id} ({c.kind} {c.name})" for c in choices)
        lead = "did you mean" if close else "it fits several"
        super().__init__(f"'{query}': {lead}: {names}")


def schedules_for(catalog: Catalog, query: str | None) -> list[str]:
    """Schedule ids for a team, service or schedule name; every schedule when `query` is empty.

    A name is matched exactly first, then as a part of a name ("pay" -> payments); several
    matches that mean different schedules, or a near miss ("paymnets"), raise `Ambiguous`
    with the choices."""
    if not query:
        return [s.id for s in catalog.schedules]
    name = query.strip().lstrip("#@").lower()
    choices = _choices(catalog)
    for choice in choices:
        if name in (choice.id.lower(), choice.name.lower()):
            return _schedules_of(catalog, choice)
    fits = [c for c in choices if name in c.id.lower() or name in c.name.lower()]
    meanings = {tuple(_schedules_of(catalog, c)) for c in fits}
    if len(meanings) == 1:
        return list(meanings.pop())
    if fits:
        raise Ambiguous(query, fits[:10])
    names = {c.id.lower(): c for c in choices} | {c.name.lower(): c for c in choices}
    close = [names[n] for n in get_close_matches(name, list(names), n=5, cutoff=0.6)]
    if close:
        raise Ambiguous(query, list({c.id: c for c in close}.values()), close=True)
    known = ", ".join(sorted([t.id for t in catalog.teams] + [s.id for s in catalog.services]))
    raise InvalidRequest(f"no team, service or schedule called '{query}'. Known: {known}")


def _choices(catalog: Catalog) -> list[Choice]:
    return ([Choice("schedule", s.id, s.name or s.id) for s in catalog.schedules]
            + [Choice("team", t.id, t.name) for t in catalog.teams]
            + [Choice("service", s.id, s.name) for s in catalog.services])


def _schedules_of(catalog: Catalog, choice: Choice) -> list[str]:
    if choice.kind == "schedule":
        return [choice.id]
    team = choice.id if choice.kind == "team" else catalog.service(choice.id).team
    return [s.id for s in catalog.schedules_of_team(team)]


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
