"""Replies of `/oncall` and its subcommands: each calls one workflow and says what happened.

The routes are in `bot/command_table.py`; the rules in `workflows/oncall/` (which schedule is
yours: `yours.py`; overrides, swaps, cover, undo: `changes.py`; hours: `report.py`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.invocation import Args, Call, Reply
from workflows.context import Context
from workflows.durations import format_duration, parse_duration
from workflows.incident import queries
from workflows.oncall import changes as schedule_changes
from workflows.oncall.report import health, oncall_hours
from workflows.oncall.yours import your_schedule
from workflows.paging.report import report_for
from workflows.ports import InvalidRequest
from workflows.render import render
from workflows.times import parse_time


def who(call: Call, args: Args) -> Reply:
    """Who is on call now and next, for a team, service or schedule (all when none is named)."""
    catalog = call.ctx.catalog
    try:
        answers = queries.who_is_on_call(catalog, query=args.text or None, at=call.ctx.now())
    except queries.Ambiguous as ambiguous:  # a question back, with the choices: not an error
        return Reply(render("oncall_choices", query=ambiguous.query, close=ambiguous.close,
                            choices=ambiguous.choices))

    def names(people: list[str]) -> str:
        return ", ".join(call.mention(p) for p in people)

    text = render("oncall", answers=answers, names=names, zone=catalog.timezone)
    return Reply(text or "No schedules in the catalog.")


def calendar(call: Call, args: Args) -> Reply:
    url = call.calendar_url(call.actor)
    if url is None:
        return Reply("Calendar feeds are off: an operator sets FIREBELL_CALENDAR_SECRET "
                     "and PUBLIC_URL to turn them on.")
    return Reply(f"Your on-call shifts as a calendar (keep the link to yourself): {url}")


def override(call: Call, args: Args) -> Reply:
    ctx = call.ctx
    schedule_id = your_schedule(ctx, person=call.actor, named=args.schedule)
    who_, first, second = args.words
    person = ctx.catalog.find_person(who_).id
    start, end = _window(ctx, schedule_id, first, second)
    version = schedule_changes.add_override(
        ctx, schedule_id=schedule_id, person=person, start=start, end=end, author=call.actor
    )
    return Reply(f"{schedule_id} version {version.number}: {version.reason}.")


def swap(call: Call, args: Args) -> Reply:
    ctx = call.ctx
    schedule_id = your_schedule(ctx, person=call.actor, named=args.schedule)
    start = end = None
    if len(args.words) == 2:
        start, end = _window(ctx, schedule_id, args.words[0], args.words[1])
    offer = schedule_changes.offer(
        ctx, kind="swap", schedule_id=schedule_id, person=call.actor, start=start, end=end
    )
    return Reply(f"Asked {_team(ctx, schedule_id)} to take your shift (offer {offer.id}).")


def cover(call: Call, args: Args) -> Reply:
    ctx = call.ctx
    schedule_id = your_schedule(ctx, person=call.actor, named=args.schedule)
    duration = parse_duration(args.words[0]).as_timedelta()
    offer = schedule_changes.offer(
        ctx, kind="cover", schedule_id=schedule_id, person=call.actor, duration=duration
    )
    return Reply(f"Asked {_team(ctx, schedule_id)} to cover you (offer {offer.id}).")


def take(call: Call, args: Args) -> Reply:
    assert args.number is not None  # the parser requires it
    version = schedule_changes.take(call.ctx, offer_id=args.number, person=call.actor)
    return Reply(f"You are on call: {version.reason}.")


def history(call: Call, args: Args) -> Reply:
    ctx = call.ctx
    schedule_id = your_schedule(ctx, person=call.actor, named=args.schedule)
    versions = schedule_changes.history(ctx, schedule_id=schedule_id)
    zone = ctx.catalog.schedule_zone(schedule_id)
    return Reply(render("schedule_history", schedule=schedule_id, versions=versions, zone=zone,
                        display=lambda p: ctx.display(p) or p))


def undo(call: Call, args: Args) -> Reply:
    schedule_id = your_schedule(call.ctx, person=call.actor, named=args.schedule)
    version, changed = schedule_changes.undo(call.ctx, schedule_id=schedule_id, author=call.actor)
    told = ", ".join(call.mention(p) for p in changed) or "nobody's shifts changed"
    return Reply(f"{schedule_id} version {version.number}: {version.reason}. Told: {told}.")


def report(call: Call, args: Args) -> Reply:
    ctx = call.ctx
    month, query = args.options.get("month"), args.text or None
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
    return Reply(render("oncall_report", rows=rows, problems=problems, start=start, end=end,
                        zone=zone.key, display=lambda p: ctx.display(p) or p))


def pages(call: Call, args: Args) -> Reply:
    """The paging report over the last `args.text` (e.g. `7d`; default 30 days)."""
    window = parse_duration(args.text or "30d")
    end = call.ctx.now() + timedelta(milliseconds=1)  # up to and including now
    start = end - timedelta(seconds=window.seconds)
    rows = report_for(call.ctx, start=start, end=end)
    return Reply(render("paging_report", rows=rows, start=start, end=end,
                        duration=lambda s: format_duration(int(s))))


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
    clock = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", text)
    if clock:
        base = (after or now).astimezone(zone)
        local = base.replace(hour=int(clock[1]), minute=int(clock[2]), second=0, microsecond=0)
        if after is not None and local <= base:
            local += timedelta(days=1)
        return local.replace(tzinfo=None).replace(tzinfo=zone).astimezone(UTC)
    try:
        return parse_time(text, zone=zone)
    except InvalidRequest:
        raise InvalidRequest(f"cannot read the time {text[:40]!r}: use 18:00 or 2026-12-24T18:00"
                             ) from None


def _team(ctx: Context, schedule_id: str) -> str:
    return ctx.catalog.team(ctx.catalog.schedule(schedule_id).team).name
