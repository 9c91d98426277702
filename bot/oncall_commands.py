"""The words of `/oncall override|swap|cover|take|history|undo|report`: parse, call, render.

`bot.commands.Commands.oncall` hands these subcommands here; the rules are in
`workflows/oncall/changes.py` and `workflows/oncall/report.py`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from workflows.context import Context
from workflows.durations import parse_duration
from workflows.incident import queries
from workflows.oncall import changes as schedule_changes
from workflows.oncall.report import health, oncall_hours
from workflows.oncall.schedules import on_call
from workflows.ports import InvalidRequest
from workflows.render import render

SUBCOMMANDS = ("override", "swap", "cover", "take", "history", "undo", "report")
USAGE = {
    "override": "`/oncall override [schedule] @person <from> <to>` "
    "(times like `18:00`, `2026-12-24T18:00`, `now`; `<to>` may be a duration like `2h`)",
    "swap": "`/oncall swap [schedule] [<from> <to>]` (default: your next shift)",
    "cover": "`/oncall cover [schedule] <duration>`, e.g. `/oncall cover 2h`",
    "take": "`/oncall take <offer number>`",
    "history": "`/oncall history <schedule>`",
    "undo": "`/oncall undo <schedule>`",
    "report": "`/oncall report [team|schedule] [YYYY-MM]` (default: this month so far)",
}


def run(ctx: Context, sub: str, text: str, *, actor: str, mention: Callable[[str], str]) -> str:
    """Run one subcommand for `actor` (a person id); returns the answer's text."""
    words = text.split()
    try:
        return _HANDLERS[sub](ctx, words, actor, mention)
    except IndexError:
        raise InvalidRequest(f"usage: {USAGE[sub]}") from None


def _override(ctx: Context, words: list[str], actor: str, mention: Callable[[str], str]) -> str:
    schedule_id, words = _schedule(ctx, words, actor)
    if len(words) != 3:
        raise InvalidRequest(f"usage: {USAGE['override']}")
    person = ctx.catalog.find_person(words[0]).id
    start, end = _window(ctx, schedule_id, words[1], words[2])
    version = schedule_changes.add_override(
        ctx, schedule_id=schedule_id, person=person, start=start, end=end, author=actor
    )
    return f"{schedule_id} version {version.number}: {version.reason}."


def _swap(ctx: Context, words: list[str], actor: str, mention: Callable[[str], str]) -> str:
    schedule_id, words = _schedule(ctx, words, actor)
    start = end = None
    if len(words) == 2:
        start, end = _window(ctx, schedule_id, words[0], words[1])
    offer = schedule_changes.offer(
        ctx, kind="swap", schedule_id=schedule_id, person=actor, start=start, end=end
    )
    return f"Asked {_team(ctx, schedule_id)} to take your shift (offer {offer.id})."


def _cover(ctx: Context, words: list[str], actor: str, mention: Callable[[str], str]) -> str:
    schedule_id, words = _schedule(ctx, words, actor)
    duration = parse_duration(words[0]).as_timedelta()
    offer = schedule_changes.offer(
        ctx, kind="cover", schedule_id=schedule_id, person=actor, duration=duration
    )
    return f"Asked {_team(ctx, schedule_id)} to cover you (offer {offer.id})."


def _take(ctx: Context, words: list[str], actor: str, mention: Callable[[str], str]) -> str:
    version = schedule_changes.take(ctx, offer_id=int(words[0].lstrip("#")), person=actor)
    return f"You are on call: {version.reason}."


def _history(ctx: Context, words: list[str], actor: str, mention: Callable[[str], str]) -> str:
    schedule_id, _ = _schedule(ctx, words, actor)
    versions = schedule_changes.history(ctx, schedule_id=schedule_id)
    zone = ctx.catalog.schedule_zone(schedule_id)
    return render("schedule_history", schedule=schedule_id, versions=versions, zone=zone,
                  display=lambda p: ctx.display(p) or p)  # fmt: skip


def _undo(ctx: Context, words: list[str], actor: str, mention: Callable[[str], str]) -> str:
    if not words:
        raise InvalidRequest(f"usage: {USAGE['undo']}")  # undo names its schedule, always
    schedule_id, _ = _schedule(ctx, words, actor)
    version, changed = schedule_changes.undo(ctx, schedule_id=schedule_id, author=actor)
    told = ", ".join(mention(p) for p in changed) or "nobody's shifts changed"
    return f"{schedule_id} version {version.number}: {version.reason}. Told: {told}."


def _report(ctx: Context, words: list[str], actor: str, mention: Callable[[str], str]) -> str:
    month = next((w for w in words if re.fullmatch(r"\d{4}-\d{2}", w)), None)
    query = next((w for w in words if w != month), None)
    ids = queries.schedules_for(ctx.catalog, query)
    zone = ZoneInfo(ctx.catalog.business_zone)
    now = ctx.now()
    if month:
        first = datetime.strptime(month, "%Y-%m").replace(tzinfo=zone)
    else:
        first = now.astimezone(zone).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = (first + timedelta(days=32)).replace(day=1)
    start, end = first.astimezone(UTC), min(following.astimezone(UTC), now) if not month else \
        following.astimezone(UTC)  # fmt: skip
    rows = oncall_hours(ctx.catalog, schedule_ids=ids, start=start, end=end)
    problems = health(ctx.catalog, schedule_ids=ids, start=now, end=now + timedelta(days=28))
    return render("oncall_report", rows=rows, problems=problems, start=start, end=end,
                  zone=zone.key, display=lambda p: ctx.display(p) or p)  # fmt: skip


_HANDLERS = {
    "override": _override, "swap": _swap, "cover": _cover, "take": _take,
    "history": _history, "undo": _undo, "report": _report,
}  # fmt: skip


def _schedule(ctx: Context, words: list[str], actor: str) -> tuple[str, list[str]]:
    """The schedule the first word names (schedule, team or service), else the actor's own."""
    if words:
        try:
            found = queries.schedules_for(ctx.catalog, words[0])
        except InvalidRequest:
            found = []
        if len(found) == 1:
            return found[0], words[1:]
        if len(found) > 1:
            raise InvalidRequest(f"which schedule? {words[0]} has {', '.join(found)}")
    now = ctx.now()
    catalog = ctx.catalog
    mine = [s.id for s in catalog.schedules if actor in on_call(catalog, schedule_id=s.id, at=now)]
    mine = mine or [
        s.id for s in catalog.schedules if any(actor in layer.members for layer in s.all_layers)
    ]
    if len(mine) == 1:
        return mine[0], words
    raise InvalidRequest(
        "which schedule? Name it first, e.g. `/oncall cover payments-primary 2h` (schedules: "
        + ", ".join(mine or [s.id for s in catalog.schedules]) + ")"
    )


def _window(ctx: Context, schedule_id: str, first: str, second: str) -> tuple[datetime, datetime]:
    zone = ZoneInfo(ctx.catalog.schedule_zone(schedule_id))
    start = _moment(ctx, first, zone, after=None)
    if re.fullmatch(r"\d+[smhdw]", second):
        return start, start + parse_duration(second).as_timedelta()
    return start, _moment(ctx, second, zone, after=start)


def _moment(ctx: Context, text: str, zone: ZoneInfo, *, after: datetime | None) -> datetime:
    """`now`, `18:00` (the next such wall-clock time), or an ISO date-time (in the zone if naive)."""
    now = ctx.now()
    if text.lower() == "now":
        return now
    clock = re.fullmatch(r"(\d{1,2}):(\d{2})", text)
    if clock:
        base = (after or now).astimezone(zone)
        local = base.replace(hour=int(clock[1]), minute=int(clock[2]), second=0, microsecond=0)
        if after is not None and local <= base:
            local += timedelta(days=1)
        return local.replace(tzinfo=None).replace(tzinfo=zone).astimezone(UTC)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidRequest(f"cannot read the time {text!r}: use 18:00 or 2026-12-24T18:00") from None
    return (when if when.tzinfo else when.replace(tzinfo=zone)).astimezone(UTC)


def _team(ctx: Context, schedule_id: str) -> str:
    return ctx.catalog.team(ctx.catalog.schedule(schedule_id).team).name
