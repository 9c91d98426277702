"""The periodic part of the follow-up: owed postmortems get due dates and reminders, overdue
action items remind their owners, teams get a weekly summary, long incidents a handoff nudge.

It runs after the due deadlines on every wake-up. The rows it acts on are claimed in the
database (locked rows, one-off marks), so several replicas act on each exactly once.
"""

from __future__ import annotations

from datetime import timedelta

from workflows.context import Context
from workflows.followup.actions import remind_overdue, weekly_summaries
from workflows.followup.postmortem import ensure_postmortem, remind_owner
from workflows.incident.commander import remind_handoffs

# A resolved incident older than this when the sweep first sees it gets no postmortem duty
# (the first start of a new version must not chase last year's incidents).
LOOKBACK = timedelta(days=7)


def sweep_followups(ctx: Context) -> int:
    """Everything of the follow-up that is due now; returns how many things were done."""
    done = _owe_postmortems(ctx)
    with ctx.unit() as uow:
        for postmortem in uow.followups.postmortems_to_remind(now=ctx.now()):
            remind_owner(ctx, uow, postmortem)
            done += 1
    with ctx.unit() as uow:
        for item in uow.followups.actions_to_remind(now=ctx.now()):
            remind_overdue(ctx, uow, item)
            done += 1
    done += weekly_summaries(ctx)
    done += remind_handoffs(ctx)
    return done


def _owe_postmortems(ctx: Context) -> int:
    policy = ctx.catalog.postmortem
    with ctx.unit() as uow:
        records = uow.followups
        owed = records.resolved_needing_postmortem(
            since=ctx.now() - LOOKBACK, priorities=list(policy.required_for)
        )
        for incident_id in owed:
            ensure_postmortem(ctx, records, uow.incidents.get_incident(incident_id, for_update=True))
    return len(owed)
