"""Escalation: page the targets of a step, wait for an acknowledgement, move on when none comes."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

from workflows.context import Context, Effect, record
from workflows.durations import format_duration
from workflows.model import (
    Deadline,
    DeadlineKind,
    EscalationStepSnapshot,
    Incident,
    Page,
    PageStatus,
    State,
)
from workflows.oncall import resolve_targets
from workflows.ports import Button, ExternalServiceError, Message, Transaction
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


def page_channels(ctx: Context, incident: Incident) -> list[str]:
    """The channels a page goes through: the priority's, that a pager serves; drills use chat only."""
    if incident.drill:
        wanted = ["chat"]
    else:
        wanted = list(ctx.catalog.response_for(incident.priority).channels) or ["chat"]
    channels = [channel for channel in wanted if channel in ctx.pagers]
    return channels or [c for c in ("chat",) if c in ctx.pagers]


def queue_pages(
    ctx: Context,
    tx: Transaction,
    effects: list[Effect],
    incident: Incident,
    *,
    people: list[str],
    step: int,
    round: int,
) -> None:
    """Store one page per person and channel, then deliver them once the transaction committed."""
    assert incident.id is not None
    now = ctx.now()
    for person in people:
        for channel in page_channels(ctx, incident):
            page = tx.add_page(Page(incident.id, person, channel, now, step=step, round=round))
            record(
                tx, incident, kind="paged", at=now, actor=person,
                text=f"{ctx.display(person)} paged by {channel}",
                data={"page": page.id, "channel": channel, "step": step, "round": round},
            )
            page_id = page.id
            assert page_id is not None
            effects.append(Effect(incident.id, f"page {page_id}", partial(deliver_page, ctx, page_id)))


def deliver_page(ctx: Context, page_id: int) -> None:
    """Send one queued page through its pager. Claimed first, so it goes out once."""
    with ctx.store.transaction() as tx:
        page = tx.claim_page(page_id)
        if page is None:
            return
        incident = tx.get_incident(page.incident_id)
    ack_within = format_duration(ctx.catalog.response_for(incident.priority).ack_within.seconds)
    text = render(
        "page", incident=incident, step=page.step, round=page.round, ack_within=ack_within,
        channel_ref=incident.channel,
    )
    try:
        page.ref = ctx.pagers[page.channel].send_page(
            page=page, incident=incident, message=Message(text, buttons=(ack_button(incident),))
        )
        page.status, page.sent_at = PageStatus.SENT, ctx.now()
    except ExternalServiceError as error:
        page.status, page.error = PageStatus.FAILED, str(error)
    with ctx.store.transaction() as tx:
        tx.save_page(page)
        if page.status == PageStatus.FAILED:
            record(
                tx, incident, kind="page_failed", at=ctx.now(), actor=page.person,
                text=f"page by {page.channel} to {page.person} failed: {page.error}",
            )


def deliver_queued(ctx: Context) -> int:
    """Deliver pages still queued, e.g. after a crash between commit and delivery."""
    with ctx.store.transaction() as tx:
        pages = tx.queued_pages(now=ctx.now())
    for page in pages:
        assert page.id is not None
        deliver_page(ctx, page.id)
    return len(pages)


def ack_button(incident: Incident) -> Button:
    return Button("ack", "Acknowledge", str(incident.id), "primary")
