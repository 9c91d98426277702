"""Escalation: page the targets of a step, wait for an acknowledgement, move on when none comes."""

from __future__ import annotations

from datetime import timedelta

from workflows.context import Context, Effect, record
from workflows.durations import format_duration
from workflows.model import Deadline, DeadlineKind, EscalationStepSnapshot, Incident, State
from workflows.oncall import resolve_targets
from workflows.paging import queue_pages
from workflows.ports import Message, Transaction
from workflows.render import render


def snapshot_policy(ctx: Context, incident: Incident) -> None:
    """Copy the team's policy onto the incident, so editing it mid-incident strands nobody."""
    team = ctx.catalog.team(incident.team)
    if not team.escalation_policy:
        return
    policy = ctx.catalog.policy(team.escalation_policy)
    incident.policy = [
        EscalationStepSnapshot(targets=list(step.notify), ack_timeout_seconds=step.ack_timeout.seconds)
        for step in policy.steps
    ]
    incident.policy_repeat = policy.repeat


def start_escalation(
    ctx: Context, tx: Transaction, effects: list[Effect], incident: Incident
) -> list[str]:
    """Page the first step of the incident's policy; returns who was paged."""
    snapshot_policy(ctx, incident)
    if not incident.policy:
        ctx.post(effects, incident, Message(render("escalated", incident=incident, exhausted=True)))
        return []
    return _page_step(ctx, tx, effects, incident, step=0, round=0)


def on_ack_timeout(
    ctx: Context, tx: Transaction, effects: list[Effect], incident: Incident, deadline: Deadline
) -> None:
    """The ack timeout of a step ran out: page the next step (or the first again, on repeat)."""
    step, round = int(deadline.data["step"]), int(deadline.data["round"])
    if incident.state != State.TRIGGERED or (step, round) != (
        incident.escalation_step,
        incident.escalation_round,
    ):
        return  # acknowledged, resolved, or an older step: nothing to do
    timeout = format_duration(incident.policy[step].ack_timeout_seconds)
    step += 1
    if step >= len(incident.policy):
        step, round = 0, round + 1
    if round > incident.policy_repeat:
        record(tx, incident, kind="escalation_exhausted", at=ctx.now(), text="no more steps")
        ctx.post(effects, incident, Message(render("escalated", incident=incident, exhausted=True)))
        return
    people = _page_step(ctx, tx, effects, incident, step=step, round=round)
    record(
        tx,
        incident,
        kind="escalated",
        at=ctx.now(),
        text=f"no acknowledgement within {timeout}: step {step + 1}, round {round + 1}",
        data={"step": step, "round": round, "people": people},
    )
    text = render(
        "escalated", incident=incident, exhausted=False, timeout=timeout, step=step,
        round=round, people=[ctx.display(p) for p in people] or ["nobody (empty step)"],
    )
    ctx.post(effects, incident, Message(text))
    ctx.invite(effects, incident, people)


def _page_step(
    ctx: Context, tx: Transaction, effects: list[Effect], incident: Incident, *, step: int, round: int
) -> list[str]:
    assert incident.id is not None
    snapshot = incident.policy[step]
    now = ctx.now()
    people = resolve_targets(ctx.catalog, targets=snapshot.targets, at=now)
    incident.escalation_step, incident.escalation_round = step, round
    tx.save_incident(incident)
    queue_pages(ctx, tx, effects, incident, people=people, step=step, round=round)
    due = now + timedelta(seconds=snapshot.ack_timeout_seconds)
    ctx.schedule(
        tx,
        effects,
        Deadline(incident.id, DeadlineKind.ESCALATE, due, {"step": step, "round": round}),
    )
    return people
