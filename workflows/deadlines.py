"""Acting on due deadlines: claimed from the database one at a time, each acted on once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import partial

from workflows import observe
from workflows.context import Context
from workflows.followup.sweep import sweep_followups
from workflows.incident.ack_due import on_ack_due
from workflows.incident.lifecycle import close_after_watch
from workflows.incident.respond import remind
from workflows.model import Deadline, DeadlineKind, Incident
from workflows.paging.clocks import on_clock
from workflows.paging.escalation import on_ack_timeout, on_hold_end
from workflows.unit import Unit

# How often the follow-up is swept at most (the scheduler's poll comes every 15 s by default).
SWEEP_EVERY = timedelta(seconds=10)

Handler = Callable[[Context, Unit, Incident, Deadline], None]

HANDLERS: dict[DeadlineKind, Handler] = {
    DeadlineKind.ESCALATE: on_ack_timeout,
    DeadlineKind.UPDATE_REMINDER: remind,
    DeadlineKind.RECOVERY_CLOSE: close_after_watch,
    DeadlineKind.ACK_DUE: on_ack_due,
    DeadlineKind.NOTIFICATION_CLOCK: on_clock,
    DeadlineKind.MAINTENANCE_END: on_hold_end,
    DeadlineKind.COVERAGE_START: on_hold_end,
}


def run_due(ctx: Context, *, limit: int = 1000) -> int:
    """Act on every deadline that is due now; returns how many. Safe to run in several replicas.

    Claiming a deadline, acting on it and writing the effects it owes share one transaction: a
    crash in between rolls all back, and the deadline is due again when the process returns.
    Nothing here waits for a vendor: the effects are performed by the dispatcher.
    """
    done = 0
    while done < limit:
        with ctx.unit() as uow:
            deadline = uow.deadlines.claim_due(now=ctx.now())
            if deadline is not None:
                incident = uow.incidents.get_incident(deadline.incident_id, for_update=True)
                HANDLERS[deadline.kind](ctx, uow, incident, deadline)
                late = (ctx.now() - deadline.due_at).total_seconds()
                uow.after_commit(partial(observe.deadline_ran, ctx.meter,
                                         kind=deadline.kind.value, late_seconds=late))
        if deadline is None:
            break
        done += 1
    ctx.effects_committed()  # delayed pages and retried effects that fell due meanwhile
    now = ctx.now()
    if ctx.swept_at is None or not timedelta(0) <= now - ctx.swept_at < SWEEP_EVERY:
        # Postmortem and action-item reminders, weekly summaries, handoffs: minutes matter to
        # none of them, so not on every wake-up (a busy escalation wakes the process often).
        ctx.swept_at = now
        sweep_followups(ctx)
    with ctx.unit() as uow:
        following = uow.deadlines.next_due_at()
    if following is not None:
        ctx.timers.wake_at(following)
    return done
