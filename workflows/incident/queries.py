"""Read-only answers: who is on call, open incidents, an incident's timeline."""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from datetime import datetime, timedelta
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
    """Who is on call now and who comes next, per schedule.

    A schedule's answer is reused for asks at most `REUSE` later on the same catalog, never past
    the moment it changes (see `_Answers`)."""
    return [_ANSWERS.answer(catalog, schedule_id, at) for schedule_id in schedules_for(catalog, query)]


def _answer(catalog: Catalog, schedule_id: str, at: datetime) -> OnCallAnswer:
    following = next_handoff(catalog, schedule_id=schedule_id, at=at)
    return OnCallAnswer(
        schedule=schedule_id,
        team=catalog.schedule(schedule_id).team,
        now=on_call(catalog, schedule_id=schedule_id, at=at),
        next_at=following[0] if following else None,
        next_people=following[1] if following else [],
        layers=layer_status(catalog, schedule_id=schedule_id, at=at),
    )


# Issue 16: finding who is next lays out the schedule's turns, up to two years of them when a
# rotation never hands off (~10 ms a schedule, most of a busy `/oncall`'s cost), while the answer
# changes only at a handoff. So an answer is kept for later asks until the first of: `REUSE`
# after it was worked out, the next handoff, any layer's next turn. Every change of a schedule (a
# catalog reload, an override made in chat, another replica's change) makes a new `Catalog`,
# and a new catalog starts afresh. The look ahead ("nobody next within two years") starts from
# the moment the answer was worked out, at most `REUSE` before the ask.
REUSE = timedelta(minutes=1)


@dataclass(frozen=True)
class _Kept:
    at: datetime  # when the answer was worked out
    until: datetime  # the first moment it may be different
    answer: OnCallAnswer


class _Answers:
    """The answers kept for the catalog asked about last, per schedule. Safe across threads:
    the catalog and its answers are replaced together, and two threads missing at once both
    work the answer out."""

    def __init__(self) -> None:
        self._kept: tuple[weakref.ref[Catalog], dict[str, _Kept]] | None = None

    def answer(self, catalog: Catalog, schedule_id: str, at: datetime) -> OnCallAnswer:
        kept = self._kept
        if kept is None or kept[0]() is not catalog:
            kept = self._kept = (weakref.ref(catalog), {})
        found = kept[1].get(schedule_id)
        if found is not None and found.at <= at < found.until:
            return found.answer
        answer = _answer(catalog, schedule_id, at)
        changes = [answer.next_at, *(layer.next_at for layer in answer.layers)]
        until = min([at + REUSE, *(moment for moment in changes if moment is not None)])
        kept[1][schedule_id] = _Kept(at, until, answer)
        return answer


_ANSWERS = _Answers()


def open_incidents(ctx: Context) -> list[Incident]:
    with ctx.unit() as uow:
        return uow.incidents.list_incidents(open_only=True)


def timeline(ctx: Context, *, incident_id: int) -> tuple[Incident, list[TimelineEvent]]:
    with ctx.unit() as uow:
        return uow.incidents.get_incident(incident_id), uow.timeline.events(incident_id)
