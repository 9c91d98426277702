"""A person's home (Slack's App Home): their open incidents, next shifts, who is on call.

`home_for` gathers it as platform-neutral data (`Home`); a chat that can show it has the
`HomePages` capability and renders it itself. `publish_homes` performs the HOME effect that
`uow.refresh` owes on every change of an incident: the homes of the people it concerns are
published again, so an acknowledgement or a new commander shows on their homes too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from workflows.catalog.model import Catalog, Schedule
from workflows.context import Context
from workflows.incident.queries import OnCallAnswer, who_is_on_call
from workflows.model import ROLES, Incident, State
from workflows.oncall.schedules import on_call, shifts
from workflows.outbox import ClaimedEffect
from workflows.ports import ExternalServiceError, NotFound

SHIFTS_AHEAD = timedelta(days=14)
TEAM_PRIORITIES = ("P1", "P2")  # a team's incidents every member sees, involved or not
_OPEN_LOOK = 500  # open incidents looked through (newest first): more is a bigger problem


@dataclass(frozen=True)
class HomeIncident:
    """An open incident on someone's home, and why it is there (`why`: "commander",
    "acknowledged", "paged", "declared", "your team")."""

    id: int
    ref: str
    title: str  # "" for a private (security, privacy) incident the person is not in
    priority: str
    state: State
    stage: str
    service: str  # its name
    channel: str | None
    declared_at: datetime
    why: tuple[str, ...]
    acknowledged_by: str | None = None  # a name
    commander: str | None = None  # a name

    @property
    def private(self) -> bool:
        return not self.title

    @property
    def acknowledgeable(self) -> bool:
        return self.state == State.TRIGGERED


@dataclass(frozen=True)
class HomeShift:
    """One of the person's coming (or current) shifts."""

    schedule: str
    team: str  # its name
    start: datetime
    end: datetime
    layer: str
    override: bool
    current: bool  # already running


@dataclass(frozen=True)
class OnCallLine:
    """Who is on call now on one schedule of the person's teams, and who comes next (ids)."""

    team: str  # its name
    schedule: str
    now: tuple[str, ...]
    next_at: datetime | None
    next_people: tuple[str, ...]


@dataclass(frozen=True)
class Home:
    """What a person sees on their home, as of `at`. `known`: the person is in the catalog
    (a stranger's home only says how to get in)."""

    person: str  # the catalog id, or a stranger's chat id
    name: str
    known: bool
    at: datetime
    zone: str  # the person's time zone: where their times are shown
    incidents: tuple[HomeIncident, ...] = ()
    shifts: tuple[HomeShift, ...] = ()
    on_call: tuple[OnCallLine, ...] = ()
    on_call_now: tuple[str, ...] = ()  # schedules the person is on call for now (to be covered)


@runtime_checkable
class HomePages(Protocol):
    """A chat where each person has a page of their own that the app keeps (Slack's App Home)."""

    def publish_home(self, *, person: str, home: Home) -> None:
        """Show `home` as `person`'s page, replacing what it showed; a person without an
        identity on this chat is left alone."""


def home_for(ctx: Context, *, person: str, now: datetime) -> Home:
    """`person`'s home at `now`: the open incidents where they hold a role, acknowledged, were
    paged or declared, plus the open P1/P2 of their teams; their shifts of the next 14 days;
    who is on call now for their teams."""
    catalog = ctx.catalog
    if not ctx.knows(person):
        return Home(person=person, name=person, known=False, at=now, zone=catalog.timezone)
    teams = _teams_of(catalog, person)
    with ctx.reading() as uow:
        open_incidents = uow.incidents.list_incidents(open_only=True, limit=_OPEN_LOOK)
        paged = {i.id: {p.person for p in uow.pages.pages(i.id)}
                 for i in open_incidents if i.id is not None}
    mine = [
        _home_incident(ctx, incident, why)
        for incident in open_incidents
        if (why := _why(incident, person, paged.get(incident.id or 0, set()), teams))
    ]
    mine.sort(key=lambda i: (i.priority, -i.declared_at.timestamp()))
    shown = [_line(catalog, answer)
             for team in sorted(teams) for schedule in catalog.schedules_of_team(team)
             for answer in who_is_on_call(catalog, query=schedule.id, at=now)]
    return Home(
        person=person, name=catalog.person(person).name, known=True, at=now,
        zone=catalog.person_zone(person), incidents=tuple(mine),
        shifts=tuple(_shifts(catalog, person, now)), on_call=tuple(shown),
        on_call_now=tuple(s.id for s in _schedules_of(catalog, person)
                          if person in on_call(catalog, schedule_id=s.id, at=now)),
    )


def publish_home(ctx: Context, *, person: str) -> bool:
    """Publish `person`'s home now, where the chat can show one; whether it could."""
    if not isinstance(ctx.chat, HomePages):
        return False
    ctx.chat.publish_home(person=person, home=home_for(ctx, person=person, now=ctx.now()))
    return True


def publish_homes(ctx: Context, effect: ClaimedEffect) -> None:
    """Performs a HOME effect: the homes of the people an incident concerns, published again.

    Each person's home is published on its own: one failure does not keep the others from
    theirs; the first failure is raised at the end, so the effect is tried again."""
    if not isinstance(ctx.chat, HomePages):
        return
    if effect.incident_id is None:
        raise NotFound(f"home effect {effect.id} names no incident")
    with ctx.reading() as uow:
        incident = uow.incidents.get_incident(effect.incident_id)
        paged = [p.person for p in uow.pages.pages(effect.incident_id)]
    people = [*incident.roles.values(), incident.acknowledged_by, *paged, incident.declared_by]
    failed: list[ExternalServiceError] = []
    for person in dict.fromkeys(p for p in people if p and ctx.knows(p)):
        try:
            publish_home(ctx, person=person)
        except ExternalServiceError as error:
            failed.append(error)
    if failed:
        raise failed[0]


def _schedules_of(catalog: Catalog, person: str) -> list[Schedule]:
    """The schedules a person takes turns on: a member of a layer, or on one of its overrides."""
    return [s for s in catalog.schedules
            if any(person in layer.members for layer in s.all_layers)
            or any(o.person == person for o in s.overrides)]


def _teams_of(catalog: Catalog, person: str) -> set[str]:
    """The teams a person is on call for: on one of their schedules, or named in a step of
    their escalation policy."""
    teams = {s.team for s in _schedules_of(catalog, person)}
    for team in catalog.teams:
        policy = next((p for p in catalog.escalation_policies
                       if p.id == team.escalation_policy), None)
        if policy and any(f"person:{person}" in step.notify or person in step.notify
                          for step in policy.steps):
            teams.add(team.id)
    return teams


def _why(incident: Incident, person: str, paged: set[str], teams: set[str]) -> tuple[str, ...]:
    why = [role for role, holder in incident.roles.items() if holder == person]
    if incident.acknowledged_by == person:
        why.append("acknowledged")
    if person in paged:
        why.append("paged")
    if incident.declared_by == person:
        why.append("declared")
    if not why and incident.team in teams and incident.priority in TEAM_PRIORITIES:
        why.append("your team")
    return tuple(why)


def _home_incident(ctx: Context, incident: Incident, why: tuple[str, ...]) -> HomeIncident:
    assert incident.id is not None
    private = incident.security and why == ("your team",)  # not theirs: no details
    try:
        service = ctx.catalog.service(incident.service).name
    except LookupError:
        service = incident.service
    return HomeIncident(
        id=incident.id, ref=incident.ref, title="" if private else incident.title,
        priority=incident.priority, state=incident.state, stage=incident.stage.value,
        service="" if private else service, channel=None if private else incident.channel,
        declared_at=incident.declared_at,
        why=tuple(ROLES[w].lower() if w in ROLES else w for w in why),
        acknowledged_by=ctx.display(incident.acknowledged_by),
        commander=None if private else ctx.display(incident.commander),
    )


def _shifts(catalog: Catalog, person: str, now: datetime) -> list[HomeShift]:
    found = []
    for schedule in _schedules_of(catalog, person):
        team = _team_name(catalog, schedule.team)
        for s in shifts(catalog, schedule_id=schedule.id, start=now, end=now + SHIFTS_AHEAD):
            if s.person == person:
                found.append(HomeShift(schedule=schedule.id, team=team, start=s.start, end=s.end,
                                       layer=s.layer, override=s.override, current=s.start <= now))
    return sorted(found, key=lambda s: (s.start, s.schedule))


def _team_name(catalog: Catalog, team: str) -> str:
    try:
        return catalog.team(team).name
    except LookupError:
        return team


def _line(catalog: Catalog, answer: OnCallAnswer) -> OnCallLine:
    return OnCallLine(team=_team_name(catalog, answer.team), schedule=answer.schedule,
                      now=tuple(answer.now), next_at=answer.next_at,
                      next_people=tuple(answer.next_people))
