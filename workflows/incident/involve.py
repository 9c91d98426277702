"""Bringing more people in: page someone now, escalate a decision to a group, reassign."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from workflows.context import Context, record
from workflows.model import DIRECT, Incident, State
from workflows.oncall.schedules import resolve_targets
from workflows.paging.delivery import queue_pages
from workflows.paging.escalation import release_held, restart_escalation
from workflows.ports import InvalidRequest, Message
from workflows.render import render
from workflows.unit import Unit


def page_now(ctx: Context, *, incident_id: int, target: str, actor: str) -> list[str]:
    """`/incident page <team|@person>`: page now, outside the policy, and invite them."""
    return _page_directly(
        ctx, incident_id=incident_id, targets=_targets(ctx, target), actor=actor,
        nobody=f"nobody is on call for '{target}' right now",
        reason=f"{ctx.display(actor)} asks you to join now.",
        note=lambda people, names: _Note(
            kind="manual_page", text=f"paged {names}", notice=render("paged_directly", names=names)
        ),
    )


def escalate_to_group(
    ctx: Context, *, incident_id: int, group: str, reason: str, actor: str
) -> list[str]:
    """`/incident escalate <group> <reason>`: a decision an engineer should not make alone
    (legal, security, executives, public communication). Invites and pages the group; paging
    held back (outside coverage hours, maintenance) starts now too: the impact is growing."""
    if not reason.strip():
        raise InvalidRequest(
            f"say why: `/incident escalate {group} <reason>` — the reason goes on the record"
        )
    why = reason.strip()
    return _page_directly(
        ctx, incident_id=incident_id, targets=ctx.catalog.group(group), actor=actor,
        nobody=f"nobody in group '{group}' can be reached right now",
        reason=f"A decision is wanted from {group} (asked by {ctx.display(actor)}): {why}",
        note=lambda people, names: _Note(
            kind="escalated_to_group", text=f"{group}: {why}",
            data={"group": group, "people": people},
            notice=render("escalated_to_group", actor=ctx.display(actor), group=group, names=names,
                          why=why),
        ),
        release=True,
    )


def reassign(ctx: Context, *, incident_id: int, target: str, actor: str) -> Incident:
    """Hand the incident to another team (its policy starts over) or person (then the team's)."""
    targets = _targets(ctx, target)
    with ctx.unit() as uow:
        incident = _open(uow, incident_id)
        kind, _, name = targets[0].partition(":")
        if kind == "team":
            incident.team = name
        incident.state, incident.acknowledged_at, incident.acknowledged_by = (
            State.TRIGGERED, None, None,
        )
        people = restart_escalation(ctx, uow, incident, first=None if kind == "team" else targets)
        record(uow, incident, kind="reassigned", at=ctx.now(), actor=actor, text=f"to {target}",
               data={"target": targets[0], "paged": people})
        uow.post(incident, Message(render(
            "reassigned", incident=incident, target=target, actor=ctx.display(actor),
            paged=[str(ctx.display(p)) for p in people])))
        uow.refresh(incident)
    return incident


@dataclass(frozen=True)
class _Note:
    """What a direct page puts on the timeline (`kind`, `text`, `data`) and in the channel
    (`notice`, rendered from its template)."""

    kind: str
    text: str
    notice: str
    data: dict[str, object] | None = None


def _page_directly(
    ctx: Context, *, incident_id: int, targets: list[str], actor: str, nobody: str,
    reason: str, note: Callable[[list[str], str], _Note], release: bool = False,
) -> list[str]:
    """Page whoever `targets` resolve to now, outside the policy, and invite them.

    `note(people, names)` says what goes on the timeline and in the channel; `nobody` is the
    error when no one can be reached. `release`: held paging starts now too.
    """
    with ctx.unit() as uow:
        incident = _open(uow, incident_id)
        people = resolve_targets(ctx.catalog, targets=targets, at=ctx.now())
        if not people:
            raise InvalidRequest(nobody)
        queue_pages(ctx, uow, incident, people=people, step=DIRECT, round=0, reason=reason)
        said = note(people, ", ".join(str(ctx.display(p)) for p in people))
        record(uow, incident, kind=said.kind, at=ctx.now(), actor=actor, text=said.text,
               data=said.data)
        uow.post(incident, Message(said.notice))
        uow.invite(incident, people)
        if release:
            release_held(ctx, uow, incident, actor=actor)
    return people


def _targets(ctx: Context, target: str) -> list[str]:
    name = target.strip()
    try:
        return [f"team:{ctx.catalog.team(name.removeprefix('team:')).id}"]
    except LookupError:
        pass
    return [f"person:{ctx.catalog.find_person(name).id}"]


def _open(uow: Unit, incident_id: int) -> Incident:
    incident = uow.incidents.get_incident(incident_id, for_update=True)
    if incident.state in (State.RESOLVED, State.CLOSED):
        raise InvalidRequest(f"{incident.ref} is {incident.state.value}")
    return incident
