"""Intake: signals in -> stored -> deduplicated, routed, grouped -> an incident or a ticket.

`intake(ctx, signals)` is the one entry point for monitoring webhooks and people's reports.
Each batch of signals is stored and acted on in one transaction, with the incident it opens, the
alert group's link to it, its first pages and every effect it owes: a caller that was told
"accepted" can rely on all of it, and a crash before the answer leaves nothing half done. The same dedup key never opens a second alert while one is open
(a unique constraint decides, so concurrent duplicates from an Alertmanager HA pair cannot both
win), and new alerts of one service within the grouping window join the open incident instead
of paging again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial

from workflows import observe
from workflows.context import Context, record
from workflows.incident import lifecycle, respond
from workflows.incident.declare import DeclareRequest, declare_in, observe_opened
from workflows.intake.routing import Route, Unrouted, route
from workflows.intake.signals import (
    Action,
    Alert,
    AlertGroup,
    IntakeTransaction,
    OpenAlert,
    Signal,
    StoredSignal,
)
from workflows.model import State
from workflows.ports import FirebellError, Message
from workflows.render import render
from workflows.unit import Unit

log = logging.getLogger(__name__)
ACTOR = "firebell"


@dataclass(frozen=True)
class Outcome:
    """What became of one signal."""

    dedup_key: str
    created: bool  # a new alert (False: a duplicate, or a resolve/acknowledge)
    routed: bool
    incident_id: int | None = None


@dataclass
class _Plan:
    signal: Signal
    routed: Route | Unrouted
    alert: Alert | None = None
    created: bool = False
    group: AlertGroup | None = None
    new_group: bool = False
    flapping: bool = False
    remaining: int = 0  # open alerts left in the group, after a resolve
    standing: OpenAlert | None = None  # what a repeat repeats: the open alert and its incident


def intake(ctx: Context, signals: Sequence[Signal]) -> list[Outcome]:
    """Store the signals and act on each (open, group, resolve or acknowledge), all at once.

    Batches that arrive together (an alert storm's webhooks) share one transaction
    (`workflows.batching`): each caller is answered once theirs is committed."""
    return ctx.intake_batches.submit(list(signals), partial(_intake_together, ctx))


def _intake_together(ctx: Context, batches: list[list[Signal]]) -> list[list[Outcome]]:
    routed = [[(signal, route(ctx.catalog, signal.labels)) for signal in signals]
              for signals in batches]
    with ctx.unit() as uow:
        # Replicas on PostgreSQL store batches at the same time: each first holds the services
        # (and unrouted alerts) it touches, all in one order, so two never wait for each other.
        uow.intake.lock([_lock_key(signal, to) for pairs in routed for signal, to in pairs])
        together = _Together()
        outcomes = [_intake_in(ctx, uow, pairs, together) for pairs in routed]
        uow.intake.add_signals(together.received)  # every signal as sent, in one statement
        return outcomes


def _lock_key(signal: Signal, routed: Route | Unrouted) -> str:
    if isinstance(routed, Route):
        return f"service:{routed.service}"
    return f"alert:{signal.source}/{signal.dedup_key}"


@dataclass
class _Together:
    """What the batches stored in one transaction share."""

    received: list[StoredSignal] = field(default_factory=list)
    # Open alerts a repeat found, by source and dedup key: the next repeats of a storm in the
    # same transaction find them here (a resolve or acknowledge of the key forgets it).
    standing: dict[tuple[str, str], OpenAlert] = field(default_factory=dict)


def _intake_in(ctx: Context, uow: Unit, pairs: list[tuple[Signal, Route | Unrouted]],
               together: _Together) -> list[Outcome]:
    outcomes = []
    itx = uow.intake
    plans = [_accept(ctx, itx, signal, routed, together) for signal, routed in pairs]
    for plan in plans:
        if _changes_nothing(plan):
            # A storm's repeat: stored above, and nothing to act on (no savepoint either).
            outcome, said = _outcome(plan), _said(plan)
        else:
            try:
                with uow.savepoint():
                    outcome = _act(ctx, uow, itx, plan)
                said = _said(plan)
            except FirebellError:
                # Stored, and the sender was right to count it as accepted; a retry would be a
                # duplicate. A group left without incident is opened by `retry_pending`.
                log.exception("acting on %s %s failed", plan.signal.source,
                              plan.signal.dedup_key)
                outcome = Outcome(plan.signal.dedup_key, plan.created,
                                  isinstance(plan.routed, Route))
                said = "failed"
        outcomes.append(outcome)
        uow.after_commit(partial(_observe_signal, ctx, plan.signal, said, outcome.incident_id))
    return outcomes


def _said(plan: _Plan) -> str:
    """What became of an accepted signal, in one word for the operator's log."""
    action = plan.signal.action
    if action in (Action.RESOLVE, Action.ACKNOWLEDGE):
        # An alert that is not open (resolved already, or never seen) changes nothing.
        return "ignored" if plan.alert is None else (
            "resolved" if action == Action.RESOLVE else "acknowledged")
    if not plan.created:
        return "repeated"
    if not isinstance(plan.routed, Route):
        return "unrouted"
    return "opened" if plan.new_group else "joined"


def _observe_signal(ctx: Context, signal: Signal, said: str, incident_id: int | None) -> None:
    observe.signal_accepted(ctx.meter, source=signal.source, outcome=said,
                            incident=f"INC-{incident_id}" if incident_id else None,
                            key=signal.dedup_key[:80])


def retry_pending(ctx: Context, *, older_than: timedelta = timedelta(minutes=1)) -> int:
    """Open the incident of alert groups whose opening failed (chat down, crash); returns how many."""
    with ctx.unit() as uow:
        itx = uow.intake
        groups = itx.groups_without_incident(before=ctx.now() - older_than)
        firsts = {g.id: next(iter(itx.group_alerts(g.id)), None) for g in groups if g.id}
    opened = 0
    for group in groups:
        alert = firsts.get(group.id) if group.id is not None else None
        routed = route(ctx.catalog, alert.labels) if alert else None
        if alert is None or not isinstance(routed, Route):
            continue
        signal = Signal(source=alert.source, integration=ACTOR, action=Action.TRIGGER,
                        dedup_key=alert.dedup_key, labels=alert.labels, summary=alert.summary,
                        links=tuple((label, url) for label, url in alert.links))
        try:
            with ctx.unit() as uow:
                uow.intake.lock([f"service:{routed.service}"])  # as a batch would (see above)
                _open_incident(ctx, uow, uow.intake,
                               _Plan(signal, routed, alert, True, group, True))
        except FirebellError as error:
            log.error("opening an incident for alert group %s failed: %s", group.id, error)
            continue
        opened += 1
    return opened


def _accept(ctx: Context, itx: IntakeTransaction, signal: Signal, routed: Route | Unrouted,
            together: _Together) -> _Plan:
    now = ctx.now()
    service = routed.service if isinstance(routed, Route) else None
    key = (signal.source, signal.dedup_key)
    together.received.append(StoredSignal(
        received_at=now, source=signal.source, integration=signal.integration,
        action=signal.action, dedup_key=signal.dedup_key, rule=signal.rule, service=service,
        payload=signal.payload,
    ))
    plan = _Plan(signal, routed)
    if signal.action != Action.TRIGGER:
        together.standing.pop(key, None)
    elif key in together.standing and isinstance(routed, Route):
        standing = together.standing[key]  # a repeat of a repeat in this transaction
        plan.alert, plan.group, plan.standing = standing.alert, standing.group, standing
        return plan
    if signal.action == Action.RESOLVE:
        plan.alert = itx.resolve_alert(source=signal.source, dedup_key=signal.dedup_key, at=now)
        _load_group(itx, plan)
        if plan.group is not None and plan.group.id is not None:
            plan.remaining = itx.open_alert_count(plan.group.id)
        return plan
    if signal.action == Action.ACKNOWLEDGE:
        plan.alert = itx.acknowledge_alert(source=signal.source, dedup_key=signal.dedup_key, at=now)
        _load_group(itx, plan)
        return plan
    settings = ctx.catalog.intake
    alert = Alert(
        source=signal.source, dedup_key=signal.dedup_key, rule=signal.rule, first_seen=now,
        summary=signal.summary[:500], labels=dict(signal.labels),
        links=[[label, url] for label, url in signal.links], starts_at=signal.starts_at,
    )
    if isinstance(routed, Route):
        alert.service, alert.team, alert.priority = routed.service, routed.team, routed.priority
        alert.environment = routed.environment
    else:
        alert.unrouted_reason = routed.reason
    plan.alert, plan.created = alert, itx.insert_alert(alert)
    if not plan.created:
        # A repeat of an open alert; it may say the problem got worse (PagerDuty events of
        # rising severity share their dedup key): act on the open alert's group.
        found = itx.open_alert(source=signal.source, dedup_key=signal.dedup_key)
        if found is not None and isinstance(routed, Route):
            plan.alert, plan.group, plan.standing = found.alert, found.group, found
            together.standing[key] = found
        return plan
    assert alert.id is not None
    since = now - settings.flapping.within.as_timedelta()
    if itx.recent_resolved(source=alert.source, dedup_key=alert.dedup_key, since=since) >= (
        settings.flapping.count - 1
    ):
        itx.mark_flapping(alert.id)
        plan.flapping = alert.flapping = True
    if isinstance(routed, Route):
        plan.group, plan.new_group = itx.join_group(
            service=routed.service, at=now, window_seconds=settings.grouping_window.seconds
        )
        assert plan.group.id is not None
        itx.attach(alert_id=alert.id, group_id=plan.group.id)
        alert.group_id = plan.group.id
    return plan


def _load_group(itx: IntakeTransaction, plan: _Plan) -> None:
    if plan.alert is not None and plan.alert.group_id is not None:
        plan.group = itx.group(plan.alert.group_id)


def _outcome(plan: _Plan) -> Outcome:
    return Outcome(plan.signal.dedup_key, plan.created, isinstance(plan.routed, Route),
                   plan.group.incident_id if plan.group else None)


def _changes_nothing(plan: _Plan) -> bool:
    """A repeat of an open alert that does not raise its incident's priority."""
    return (plan.signal.action == Action.TRIGGER and not plan.created
            and not _raises(plan))


def _raises(plan: _Plan) -> bool:
    """Whether a repeat is of higher priority than its open incident (as read, unlocked)."""
    standing = plan.standing
    return (isinstance(plan.routed, Route) and standing is not None and standing.incident_open
            and standing.incident_priority is not None
            and _rank(plan.routed.priority) < _rank(standing.incident_priority))


def _act(
    ctx: Context, uow: Unit, itx: IntakeTransaction, plan: _Plan
) -> Outcome:
    signal = plan.signal
    routed = isinstance(plan.routed, Route)
    incident_id = plan.group.incident_id if plan.group else None
    if signal.action == Action.TRIGGER and plan.created:
        if not routed:
            _tell_owners(ctx, uow, plan)
        elif plan.new_group:
            incident_id = _open_incident(ctx, uow, itx, plan)
        elif incident_id is not None:
            _join(ctx, uow, plan, incident_id)
    elif signal.action == Action.TRIGGER and _raises(plan) and incident_id:
        _repeated(ctx, uow, plan, incident_id)
    elif signal.action == Action.RESOLVE and plan.alert is not None and incident_id is not None:
        _resolved(ctx, uow, plan, incident_id)
    elif signal.action == Action.ACKNOWLEDGE and plan.alert is not None and incident_id is not None:
        _acknowledged(ctx, uow, plan, incident_id)
    return Outcome(signal.dedup_key, plan.created, routed, incident_id)


def _open_incident(
    ctx: Context, uow: Unit, itx: IntakeTransaction, plan: _Plan
) -> int:
    """Declare the group's incident and link the group to it, in the caller's unit of work."""
    assert isinstance(plan.routed, Route) and plan.group is not None and plan.group.id is not None
    signal, r = plan.signal, plan.routed
    lines = [signal.description] if signal.description else []
    lines += [f"{label}: {url}" for label, url in signal.links]
    incident = declare_in(ctx, uow, DeclareRequest(
        title=(signal.summary or signal.rule)[:200], service=r.service, severity=r.severity,
        urgency=r.urgency, environment=r.environment, description="\n".join(lines),
        reporter=signal.reporter,
    ))
    assert incident.id is not None
    uow.after_commit(lambda: observe_opened(
        ctx, incident, source="report" if signal.source == "report" else "alert"))
    for alert in itx.set_group_incident(group_id=plan.group.id, incident_id=incident.id):
        record(uow, incident, kind="alert", at=ctx.now(), text=_alert_text(alert),
               data=_alert_data(alert), source_id=f"alert:{alert.id}")
        if alert.flapping:
            record(uow, incident, kind="flapping", at=ctx.now(), text=_flapping_text(alert),
                   source_id=f"flapping:{alert.id}")
    return incident.id


def _join(
    ctx: Context, uow: Unit, plan: _Plan, incident_id: int
) -> None:
    alert = plan.alert
    assert alert is not None
    incident = uow.incidents.get_incident(incident_id)
    fresh = record(uow, incident, kind="alert_grouped", at=ctx.now(), text=_alert_text(alert),
                   data=_alert_data(alert), source_id=f"alert:{alert.id}")
    if plan.flapping:
        record(uow, incident, kind="flapping", at=ctx.now(), text=_flapping_text(alert),
               source_id=f"flapping:{alert.id}")
    if not fresh:
        return
    if incident.state == State.RESOLVED:
        incident = uow.incidents.get_incident(incident_id, for_update=True)
        lifecycle.reopen_in(ctx, uow, incident, actor=ACTOR,
                            reason=f"{alert.rule} fired again during the recovery watch")
    before = incident.priority
    raised = (alert.priority is not None and incident.is_open
              and _rank(alert.priority) < _rank(incident.priority))
    text = render("alert_grouped", incident=incident, alert=alert, flapping=plan.flapping,
                  raised_to=alert.priority if raised else None, before=before)
    uow.post(incident, Message(text))
    if raised:
        assert alert.priority is not None
        incident = uow.incidents.get_incident(incident_id, for_update=True)
        if isinstance(plan.routed, Route):
            incident.severity = plan.routed.severity
        lifecycle.retriage_in(ctx, uow, incident, actor=ACTOR, priority=alert.priority,
                              reason=f"{alert.rule} joined at {alert.priority}")


def _repeated(ctx: Context, uow: Unit, plan: _Plan, incident_id: int) -> None:
    """The same alert again, of higher priority than its open incident (as read without a
    lock: a lock held to the commit would let a storm's repeats through one at a time): raise
    it, once the locked incident confirms it."""
    assert isinstance(plan.routed, Route) and plan.alert is not None
    priority = plan.routed.priority
    incident = uow.incidents.get_incident(incident_id, for_update=True)
    if not incident.is_open or _rank(priority) >= _rank(incident.priority):
        return
    incident.severity = plan.routed.severity
    lifecycle.retriage_in(ctx, uow, incident, actor=ACTOR, priority=priority,
                          reason=f"{plan.alert.rule} repeated at {priority}")


def _rank(priority: str) -> int:
    """P1 → 1: lower is more urgent."""
    return int(priority[1:]) if priority[1:].isdigit() else 99


def _resolved(
    ctx: Context, uow: Unit, plan: _Plan, incident_id: int
) -> None:
    alert = plan.alert
    assert alert is not None
    incident = uow.incidents.get_incident(incident_id, for_update=True)
    record(uow, incident, kind="alert_resolved", at=ctx.now(), text=_alert_text(alert),
           data=_alert_data(alert), source_id=f"alert-resolved:{alert.id}")
    if plan.remaining == 0 and incident.is_open and incident.state != State.RESOLVED:
        # PagerDuty's semantics: resolved at the source before anyone acknowledged, the
        # incident resolves and its paging stops; once a person holds it, resolving is theirs
        # (unless the catalog's `auto_resolve` says otherwise).
        unheld = incident.state == State.TRIGGERED
        resolve = unheld or ctx.catalog.intake.auto_resolve
        uow.post(incident, Message(render(
            "alerts_resolved", incident=incident, auto_resolve=resolve, unheld=unheld,
        )))
        if resolve:
            lifecycle.resolve_in(ctx, uow, incident_id=incident_id,
                                 actor=plan.signal.integration or ACTOR)


def _acknowledged(
    ctx: Context, uow: Unit, plan: _Plan, incident_id: int
) -> None:
    incident = uow.incidents.get_incident(incident_id, for_update=True)
    assert plan.alert is not None
    record(uow, incident, kind="alert_acknowledged", at=ctx.now(), actor=plan.signal.integration,
           text=_alert_text(plan.alert), source_id=f"alert-ack:{plan.alert.id}")
    if incident.state == State.TRIGGERED:
        respond.acknowledge_in(ctx, uow, incident_id=incident_id,
                               person=plan.signal.integration)


def _tell_owners(ctx: Context, uow: Unit, plan: _Plan) -> None:
    """An alert that cannot say which service and team it is for is not ready for on-call.
    (The alert itself is safe in the unrouted queue, `/incident unrouted`, whatever happens.)"""
    alert, settings = plan.alert, ctx.catalog.intake
    assert alert is not None
    message = Message(render("unrouted_notice", alert=alert), links=tuple(plan.signal.links))
    for owner in settings.owners:
        uow.send_direct(person=owner, message=message, incident_id=None)
    if settings.owners_channel:
        uow.post_to(channel=settings.owners_channel, message=message, incident_id=None)


def _alert_text(alert: Alert) -> str:
    return f"{alert.rule}: {alert.summary}" if alert.summary and alert.summary != alert.rule else alert.rule


def _alert_data(alert: Alert) -> dict[str, object]:
    data: dict[str, object] = {"alert": alert.id, "source": alert.source,
                               "dedup_key": alert.dedup_key, "labels": alert.labels,
                               "links": alert.links}
    if alert.starts_at is not None:
        data["starts_at"] = alert.starts_at.isoformat()  # when impact began: TTD
    return data


def _flapping_text(alert: Alert) -> str:
    return f"{alert.rule} is flapping: it fired, resolved and fired again"
