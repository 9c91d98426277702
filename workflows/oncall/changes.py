"""Changes to schedules outside the catalog file: overrides, swaps, cover, versions and undo.

The effective schedule is the newest stored version: the catalog's schedule as it was (`base`)
plus the overrides made in chat, later ones winning. Every change — a catalog reload that
changes a schedule, or a chat action — is a new version with author, time and reason, so
`history` can show it and `undo` can bring the one before back.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from workflows.catalog.model import Catalog, Override, Schedule
from workflows.context import Context
from workflows.oncall.model import Offer, ScheduleVersion, StoredOverride
from workflows.oncall.schedules import Shift, shifts
from workflows.ports import Button, InvalidRequest, Message, ScheduleStore
from workflows.render import render

log = logging.getLogger(__name__)

# How far ahead `undo` looks for shifts that changed, and a swap for the person's next shift.
LOOKAHEAD = timedelta(days=60)
_RETRIES = 5


def digest(schedule: Schedule) -> str:
    """A fingerprint of the catalog file's schedule: a reload that changes it is a new version."""
    text = json.dumps(schedule.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def effective_schedule(version: ScheduleVersion) -> Schedule:
    """The schedule a version stands for: its base plus its overrides (later ones win)."""
    base = Schedule.model_validate(version.base)
    added = [Override(person=o.person, start=o.start, end=o.end) for o in version.overrides]
    return base.model_copy(update={"overrides": [*base.overrides, *added]})


def sync_catalog(ctx: Context, *, source: Catalog, at: datetime) -> list[ScheduleVersion]:
    """Record a new version of each schedule the catalog file changed (or first introduced).

    Overrides made in chat are kept across a reload. Returns the new versions; then the
    context's catalog is the effective one.
    """
    store = _store(ctx)
    latest = store.latest_versions()
    made = []
    for schedule in source.schedules:
        fingerprint = digest(schedule)
        before = latest.get(schedule.id)
        if before is not None and before.catalog_digest == fingerprint:
            continue
        version = ScheduleVersion(
            schedule=schedule.id, number=0, at=at, author="catalog",
            reason="catalog changed" if before else "first version, from the catalog",
            catalog_digest=fingerprint, base=schedule.model_dump(mode="json"),
            overrides=before.overrides if before else (),
        )  # fmt: skip
        stored = store.add_version(version, after=before.number if before else None)
        if stored is not None:  # else another replica recorded the same reload first
            made.append(stored)
    ctx.catalog = source
    refresh(ctx)
    return made


def refresh(ctx: Context) -> None:
    """Make `ctx.catalog` show the newest version of every schedule (other replicas' changes)."""
    if ctx.schedules is None:
        return
    latest = ctx.schedules.latest_versions()
    catalog = ctx.catalog
    ctx.catalog = catalog.with_schedules(
        [effective_schedule(latest[s.id]) if s.id in latest else s for s in catalog.schedules]
    )


def add_override(
    ctx: Context,
    *,
    schedule_id: str,
    person: str,
    start: datetime,
    end: datetime,
    author: str,
    reason: str = "",
) -> ScheduleVersion:
    """Put `person` on call from `start` to `end`; it wins over the rotation and older overrides."""
    ctx.catalog.person(person)
    if end <= start:
        raise InvalidRequest("an override must end after it starts")
    if end <= ctx.now():
        raise InvalidRequest("that override would be over already")
    added = StoredOverride(person=person, start=start, end=end, by=author, reason=reason)
    why = reason or f"override: {_name(ctx, person)} {_span(ctx, schedule_id, start, end)}"

    def change(v: ScheduleVersion) -> ScheduleVersion:
        # Overrides that ended long ago only slow every lookup down; they stay in old versions.
        kept = tuple(o for o in v.overrides if o.end > ctx.now() - timedelta(days=400))
        return replace(v, overrides=(*kept, added))

    return _new_version(ctx, schedule_id, author=author, reason=why, change=change)[1]


def offer(
    ctx: Context,
    *,
    kind: str,
    schedule_id: str,
    person: str,
    start: datetime | None = None,
    end: datetime | None = None,
    duration: timedelta | None = None,
) -> Offer:
    """Ask the team to take a shift: `swap` offers the person's next shift (or `start`-`end`),
    `cover` the next `duration` from now. Posts a Take button in the team channel."""
    schedule = ctx.catalog.schedule(schedule_id)
    now = ctx.now()
    if kind == "cover":
        if duration is None or duration <= timedelta(0):
            raise InvalidRequest("how long? e.g. `/oncall cover 2h`")
        start, end = now, now + duration
    elif kind == "swap" and (start is None or end is None):
        mine = [
            s
            for s in shifts(ctx.catalog, schedule_id=schedule_id, start=now, end=now + LOOKAHEAD)
            if s.person == person
        ]
        if not mine:
            raise InvalidRequest(f"you have no shift on {schedule_id} in the next 60 days")
        start, end = max(mine[0].start, now), mine[0].end
    if kind not in ("swap", "cover") or start is None or end is None or end <= start:
        raise InvalidRequest("usage: `/oncall swap [schedule]` or `/oncall cover <duration>`")
    made = _store(ctx).add_offer(
        Offer(schedule=schedule_id, person=person, start=start, end=end, kind=kind, created_at=now)
    )
    team = ctx.catalog.team(schedule.team)
    channel = ctx.team_channel(team)
    text = render(
        "shift_offer", offer=made, who=_name(ctx, person), span=_span(ctx, schedule_id, start, end)
    )
    button = Button(action="take", label="Take it", value=str(made.id), style="primary")
    if channel:
        with ctx.unit() as uow:
            uow.post_to(channel=channel, message=Message(text=text, buttons=(button,)),
                        incident_id=None, key=f"offer:{made.id}")
    return made


def take(ctx: Context, *, offer_id: int, person: str) -> ScheduleVersion:
    """The first teammate to take an offer gets an override for its window."""
    store = _store(ctx)
    found = store.get_offer(offer_id)
    if found.person == person:
        raise InvalidRequest("that is your own shift; someone else has to take it")
    if found.end <= ctx.now():
        raise InvalidRequest("that shift is over already")
    ctx.catalog.person(person)
    taken = store.take_offer(offer_id, person=person, at=ctx.now())
    if taken is None:
        holder = store.get_offer(offer_id).taken_by
        raise InvalidRequest(f"{_name(ctx, holder or '?')} took that shift first")
    start = max(taken.start, ctx.now())
    version = add_override(
        ctx, schedule_id=taken.schedule, person=person, start=start, end=taken.end, author=person,
        reason=f"{_name(ctx, person)} took the {taken.kind} of {_name(ctx, taken.person)} "
        f"{_span(ctx, taken.schedule, start, taken.end)}",
    )  # fmt: skip
    _tell(ctx, taken.person, f"{_name(ctx, person)} took your {taken.kind} on {taken.schedule} "
          f"{_span(ctx, taken.schedule, start, taken.end)}.")  # fmt: skip
    # The offer in the team channel says who took it and when, with no live Take button.
    with ctx.unit() as uow:
        uow.edit_posted(key=f"offer:{offer_id}", message=Message(render(
            "offer_taken", offer=taken, who=_name(ctx, taken.person), by=_name(ctx, person),
            span=_span(ctx, taken.schedule, taken.start, taken.end),
            at=ctx.now(), zone=ctx.catalog.schedule_zone(taken.schedule))))
    return version


def history(ctx: Context, *, schedule_id: str, limit: int = 10) -> list[ScheduleVersion]:
    """The newest versions of a schedule, newest first."""
    ctx.catalog.schedule(schedule_id)
    return _store(ctx).versions(schedule_id, limit=limit)


def undo(ctx: Context, *, schedule_id: str, author: str) -> tuple[ScheduleVersion, list[str]]:
    """Bring back the version before the newest (repeated undos walk further back).

    Returns the new version and the people whose shifts in the next 60 days changed; they are
    told in a direct message.
    """
    store = _store(ctx)
    ctx.catalog.schedule(schedule_id)
    for _ in range(_RETRIES):
        newest = store.versions(schedule_id, limit=1)
        if not newest:
            raise InvalidRequest(f"{schedule_id} has no history yet")
        current = newest[0]
        target = (current.restores if current.restores is not None else current.number) - 1
        earlier = [v for v in store.versions(schedule_id, limit=1000) if v.number == target]
        if not earlier:
            raise InvalidRequest(f"nothing to undo: version {target + 1} is the first")
        version = replace(
            earlier[0], number=0, at=ctx.now(), author=author, id=None, restores=target,
            catalog_digest=current.catalog_digest,
            reason=f"undo: back to version {target} (was: {current.reason})",
        )  # fmt: skip
        stored = store.add_version(version, after=current.number)
        if stored is not None:
            refresh(ctx)
            changed = _changed_people(ctx, schedule_id, current, stored)
            for person in changed:
                _tell(ctx, person, render("schedule_undo", schedule=schedule_id,
                                          author=_name(ctx, author), version=stored,
                                          shifts=_own_shifts(ctx, schedule_id, stored, person)))
            return stored, changed
    raise InvalidRequest("the schedule is changing right now; try again")  # pragma: no cover


# helpers -------------------------------------------------------------------------
def _store(ctx: Context) -> ScheduleStore:
    if ctx.schedules is None:
        raise InvalidRequest("schedule changes need the database (no schedule store configured)")
    return ctx.schedules


def _new_version(
    ctx: Context,
    schedule_id: str,
    *,
    author: str,
    reason: str,
    change: Callable[[ScheduleVersion], ScheduleVersion],
) -> tuple[ScheduleVersion, ScheduleVersion]:
    """Apply `change` to the newest version and store the result as the next one.

    A schedule without versions (no catalog sync yet) starts from the catalog's schedule.
    """
    store = _store(ctx)
    for _ in range(_RETRIES):
        newest = store.versions(schedule_id, limit=1)
        if newest:
            current = newest[0]
        else:
            schedule = ctx.catalog.schedule(schedule_id)
            current = ScheduleVersion(
                schedule=schedule_id, number=0, at=ctx.now(), author="catalog", reason="",
                catalog_digest=digest(schedule), base=schedule.model_dump(mode="json"),
            )  # fmt: skip
        proposed = replace(
            change(current), at=ctx.now(), author=author, reason=reason, id=None, restores=None
        )
        stored = store.add_version(proposed, after=current.number if newest else None)
        if stored is not None:
            refresh(ctx)
            return current, stored
    raise InvalidRequest("the schedule is changing right now; try again")  # pragma: no cover


def _changed_people(
    ctx: Context, schedule_id: str, before: ScheduleVersion, after: ScheduleVersion
) -> list[str]:
    now = ctx.now()
    old, new = (
        {(s.person, s.start, s.end) for s in _version_shifts(ctx, schedule_id, v, now)}
        for v in (before, after)
    )
    return sorted({person for person, _, _ in old ^ new})


def _own_shifts(
    ctx: Context, schedule_id: str, version: ScheduleVersion, person: str
) -> list[str]:
    found = _version_shifts(ctx, schedule_id, version, ctx.now())
    return [_span(ctx, schedule_id, s.start, s.end) for s in found if s.person == person][:5]


def _version_shifts(
    ctx: Context, schedule_id: str, version: ScheduleVersion, now: datetime
) -> list[Shift]:
    catalog = ctx.catalog.with_schedules(
        [effective_schedule(version) if s.id == schedule_id else s for s in ctx.catalog.schedules]
    )
    return shifts(catalog, schedule_id=schedule_id, start=now, end=now + LOOKAHEAD)


def _tell(ctx: Context, person: str, text: str) -> None:
    """A direct message, owed like every other effect (performed, retried, never lost)."""
    with ctx.unit() as uow:
        uow.send_direct(person=person, message=Message(text=text), incident_id=None)


def _name(ctx: Context, person: str) -> str:
    return ctx.display(person) or person


def _span(ctx: Context, schedule_id: str, start: datetime, end: datetime) -> str:
    zone = ctx.catalog.schedule_zone(schedule_id)
    return render("shift_span", start=start, end=end, zone=zone)
