"""Replies of `/incident report` and `/incident unrouted`. The routes are in
`bot/command_table.py`; the rules in `workflows/intake/` (a report is a signal: `report.py`)."""

from __future__ import annotations

from bot.invocation import Args, Call, Reply
from workflows.intake.report import report as take_report
from workflows.render import render


def report(call: Call, args: Args) -> Reply:
    done = take_report(call.ctx, actor=call.actor, summary=args.text, options=args.options,
                       text=args.line)
    if not done.routed:
        return Reply("Thanks — your report is kept, but no service matches it, so nobody was "
                     "paged. The catalog's owners were told; name a service with `service=<id>`.")
    if done.incident_ref is None:
        return Reply("Thanks — your report is stored; opening its incident failed and will be "
                     "retried.")
    where = "on-call is paged" if done.paged else f"it is in {done.team}'s queue"
    return Reply(f"Thanks — your report is {done.incident_ref} ({done.priority}); {where}.")


def unrouted(call: Call, args: Args) -> Reply:
    """Open alerts no service matched: nobody is paged for them until the catalog says who owns
    them."""
    with call.ctx.unit() as uow:
        alerts = uow.intake.unrouted(limit=20)
    return Reply(render("unrouted_list", alerts=alerts, zone=call.ctx.catalog.timezone))
