"""Postmortems: a draft rendered from the timeline, its states, its due date and reminders.

`/incident postmortem` backfills the channel history (when the chat can read it), renders the
team's template in the sandbox, runs the blameless check, stores the draft and posts it.
States: pending (owed, nothing drafted) -> draft -> in review -> published.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from workflows import blameless
from workflows.actions import reminder_after
from workflows.business_time import deadline
from workflows.capture import backfill
from workflows.context import Context, Effect, record
from workflows.followups import (
    ActionItem,
    FollowUpRecords,
    Postmortem,
    PostmortemState,
    RepeatIncident,
    followups,
)
from workflows.metrics import incident_metrics
from workflows.model import ROLES, Incident, TimelineEvent
from workflows.ports import (
    ChannelHistory,
    ExternalServiceError,
    FileUpload,
    InvalidRequest,
    Message,
    Transaction,
)
from workflows.render import TemplateProblem, render

# Events about the follow-up itself: not part of the incident's story.
FOLLOW_UP_KINDS = frozenset({
    "postmortem_drafted", "postmortem_state", "postmortem_reminder", "cause_tagged",
    "action_added", "action_done", "action_overdue", "ticket_failed", "handoff_reminder",
})
_ORDINALS = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth",
             "ninth", "tenth"]
_NEXT_STATE = {
    "review": (PostmortemState.IN_REVIEW, (PostmortemState.DRAFT,)),
    "publish": (PostmortemState.PUBLISHED, (PostmortemState.IN_REVIEW, PostmortemState.DRAFT)),
    "reopen": (PostmortemState.DRAFT, (PostmortemState.IN_REVIEW, PostmortemState.PUBLISHED)),
}


@dataclass(frozen=True)
class Draft:
    postmortem: Postmortem
    text: str
    flags: list[blameless.BlameFlag]
    backfilled: int
    backfill_error: str | None
    repeats: list[RepeatIncident]


@dataclass(frozen=True)
class CauseTagged:
    cause: str
    repeats: list[RepeatIncident]  # this incident included
    sentence: str | None  # "third incident on Checkout API in 30 days"


def draft_postmortem(ctx: Context, *, incident_id: int, actor: str) -> Draft:
    """Draft (or redraft) the postmortem from the whole timeline; store it and post it."""
    with ctx.store.transaction() as tx:
        incident = tx.get_incident(incident_id)
        existing = followups(tx).postmortem(incident_id)
    if existing and existing.state in (PostmortemState.IN_REVIEW, PostmortemState.PUBLISHED):
        raise InvalidRequest(
            f"the postmortem of {incident.ref} is {existing.state.label}; "
            "`/incident postmortem reopen` makes it a draft again"
        )
    added, problem = 0, None
    if incident.channel and isinstance(ctx.chat, ChannelHistory):
        try:
            added = backfill(ctx, incident_id=incident_id, history=ctx.chat)
        except ExternalServiceError as error:
            problem = str(error)  # drafted anyway, and the draft says what may be missing
    with ctx.unit() as (tx, effects):
        incident = tx.get_incident(incident_id, for_update=True)
        records = followups(tx)
        postmortem = ensure_postmortem(ctx, records, incident)
        repeats = _repeats(ctx, records, incident, postmortem.cause)
        values = _values(ctx, tx, records, incident, postmortem, repeats, problem)
        text = _render_draft(ctx, values)
        flags = blameless.check(text, people=_people_names(ctx), systems=_system_names(ctx))
        if flags:
            text += "\n\n" + render("postmortem_blameless.md", flags=flags)
        now = ctx.now()
        postmortem.text, postmortem.flags = text, [vars(f) for f in flags]
        postmortem.state, postmortem.drafted_at, postmortem.updated_at = (
            PostmortemState.DRAFT, now, now,
        )
        records.save_postmortem(postmortem)
        record(tx, incident, kind="postmortem_drafted", at=now, actor=actor,
               text=f"{len(flags)} blameless flag(s)" if flags else "",
               data={"backfilled": added})
        _share(ctx, effects, incident, text, flags)
    return Draft(postmortem, text, flags, added, problem, repeats)


def change_state(ctx: Context, *, incident_id: int, to: str, actor: str) -> Postmortem:
    """`review`, `publish` or `reopen` the postmortem."""
    if to not in _NEXT_STATE:
        raise InvalidRequest(f"unknown postmortem step '{to}': use {', '.join(_NEXT_STATE)}")
    target, allowed = _NEXT_STATE[to]
    with ctx.unit() as (tx, effects):
        incident = tx.get_incident(incident_id, for_update=True)
        records = followups(tx)
        postmortem = records.postmortem(incident_id, for_update=True)
        if postmortem is None or postmortem.state not in allowed:
            state = postmortem.state.label if postmortem else "not started"
            raise InvalidRequest(
                f"the postmortem of {incident.ref} is {state}; it cannot go to {target.label}"
                + (" (draft it first: `/incident postmortem`)" if state in ("pending", "not started")
                   else "")
            )
        now = ctx.now()
        postmortem.state, postmortem.updated_at = target, now
        if target == PostmortemState.PUBLISHED:
            postmortem.published_at, postmortem.next_reminder_at = now, None
        records.save_postmortem(postmortem)
        record(tx, incident, kind="postmortem_state", at=now, actor=actor, text=target.label,
               data={"state": target.value})
        ctx.post(effects, incident, Message(render(
            "notice", text=f":memo: The postmortem of {incident.ref} is {target.label} "
                           f"({ctx.display(actor)}).",
        )))
    return postmortem


def tag_cause(ctx: Context, *, incident_id: int, tag: str, actor: str) -> CauseTagged:
    """Tag the cause; incidents on the same service with the same tag are linked as repeats."""
    cause = tag.strip().lower().strip("#")
    allowed = ctx.catalog.postmortem.cause_tags
    if not cause or (allowed and cause not in allowed):
        raise InvalidRequest(
            "usage: `/incident cause <tag>`" + (f"; tags: {', '.join(allowed)}" if allowed else "")
        )
    with ctx.unit() as (tx, effects):
        incident = tx.get_incident(incident_id, for_update=True)
        records = followups(tx)
        postmortem = ensure_postmortem(ctx, records, incident)
        postmortem.cause, postmortem.updated_at = cause, ctx.now()
        records.save_postmortem(postmortem)
        repeats = _repeats(ctx, records, incident, cause)
        sentence = repeat_sentence(ctx, incident, repeats)
        record(tx, incident, kind="cause_tagged", at=ctx.now(), actor=actor, text=cause,
               data={"cause": cause, "repeats": [r.incident_id for r in repeats]})
        if sentence:
            others = ", ".join(f"INC-{r.incident_id}" for r in repeats if r.incident_id != incident_id)
            ctx.post(effects, incident, Message(render(
                "notice", text=f":repeat: Cause `{cause}`: {sentence} (with {others}).",
            )))
    return CauseTagged(cause, repeats, sentence)


def status(ctx: Context, *, incident_id: int) -> str:
    """One line: state, due date, cause, reminders."""
    with ctx.store.transaction() as tx:
        incident = tx.get_incident(incident_id)
        postmortem = followups(tx).postmortem(incident_id)
    if postmortem is None:
        required = incident.priority in ctx.catalog.postmortem.required_for
        return (f"{incident.ref} has no postmortem yet"
                + (" (required once resolved)." if required else " (optional)."))
    return render("postmortem_status", incident=incident, postmortem=postmortem,
                  zone=ctx.catalog.timezone)


def markdown(ctx: Context, *, incident_id: int) -> str:
    """The stored draft as Markdown (`GET .../postmortem`, `firebell postmortem <id>`).

    Nothing stored yet: a fresh rendering, neither stored nor posted.
    """
    with ctx.store.transaction() as tx:
        incident = tx.get_incident(incident_id)
        records = followups(tx)
        postmortem = records.postmortem(incident_id)
        if postmortem is not None and postmortem.text:
            return postmortem.text
        postmortem = postmortem or Postmortem(incident_id=incident_id, created_at=ctx.now())
        repeats = _repeats(ctx, records, incident, postmortem.cause)
        return _render_draft(ctx, _values(ctx, tx, records, incident, postmortem, repeats, None))


def ensure_postmortem(ctx: Context, records: FollowUpRecords, incident: Incident) -> Postmortem:
    """The incident's postmortem record; created (pending) when missing. A required one that is
    resolved gets its due date: `postmortem.due` of business time after resolution."""
    assert incident.id is not None
    policy = ctx.catalog.postmortem
    postmortem = records.postmortem(incident.id, for_update=True) or Postmortem(
        incident_id=incident.id, created_at=ctx.now()
    )
    postmortem.required = incident.priority in policy.required_for and not incident.drill
    if postmortem.required and postmortem.due_at is None and incident.resolved_at is not None:
        postmortem.due_at = deadline(ctx.catalog.business_hours, start=incident.resolved_at,
                                     duration=policy.due, zone=ctx.catalog.business_zone)
        postmortem.next_reminder_at = postmortem.due_at
    return records.save_postmortem(postmortem)


def remind_owner(
    ctx: Context, tx: Transaction, effects: list[Effect], postmortem: Postmortem
) -> None:
    """A due, unpublished postmortem: remind the commander, then again every `remind_every`."""
    incident = tx.get_incident(postmortem.incident_id)
    now = ctx.now()
    policy = ctx.catalog.postmortem
    postmortem.next_reminder_at = reminder_after(ctx, policy.remind_every)
    if incident.is_open:  # reopened: the postmortem waits for the new resolution
        followups(tx).save_postmortem(postmortem)
        return
    owner = incident.commander or incident.acknowledged_by or incident.declared_by
    postmortem.reminders += 1
    followups(tx).save_postmortem(postmortem)
    zone = ctx.catalog.timezone
    text = render("postmortem_reminder", incident=incident, postmortem=postmortem, zone=zone,
                  owner=ctx.display(owner))
    record(tx, incident, kind="postmortem_reminder", at=now, actor=None, text=text,
           data={"owner": owner, "state": postmortem.state.value})
    assert incident.id is not None
    if owner and ctx.knows(owner):
        effects.append(Effect(incident.id, "postmortem reminder",
                              lambda: ctx.chat.send_direct(person=owner, message=Message(text))))
    else:
        ctx.post(effects, incident, Message(text))


def repeat_sentence(ctx: Context, incident: Incident, repeats: list[RepeatIncident]) -> str | None:
    """"third incident on Checkout API in 30 days", or None when it is the only one."""
    if len(repeats) < 2:
        return None
    position = next((i for i, r in enumerate(repeats, 1) if r.incident_id == incident.id),
                    len(repeats))
    ordinal = _ORDINALS[position - 1] if position <= len(_ORDINALS) else f"{position}th"
    days = ctx.catalog.postmortem.repeat_window.seconds // 86400
    return f"{ordinal} incident on {ctx.catalog.service(incident.service).name} in {days} days"


# drafting ------------------------------------------------------------------------
def _repeats(
    ctx: Context, records: FollowUpRecords, incident: Incident, cause: str | None
) -> list[RepeatIncident]:
    if not cause:
        return []
    window = timedelta(seconds=ctx.catalog.postmortem.repeat_window.seconds)
    return records.repeats(service=incident.service, cause=cause,
                           since=incident.declared_at - window, until=incident.declared_at)


def _values(
    ctx: Context, tx: Transaction, records: FollowUpRecords, incident: Incident,
    postmortem: Postmortem, repeats: list[RepeatIncident], problem: str | None,
) -> dict[str, Any]:
    assert incident.id is not None
    catalog = ctx.catalog
    events = [e for e in tx.events(incident.id) if e.kind not in FOLLOW_UP_KINDS]
    metrics = incident_metrics(incident, events)
    service = catalog.service(incident.service)
    actions = records.actions(incident_id=incident.id, open_only=False)
    return {
        "incident": incident,
        "service": service,
        "team": catalog.team(incident.team),
        "zone": catalog.timezone,
        "postmortem": postmortem,
        "state": postmortem.state.label,
        "metrics": metrics.formatted(),
        "impact_started_at": metrics.impact_started_at,
        "impact_start_known": metrics.start_known,
        "counts": {"pages": metrics.pages, "escalations": metrics.escalations,
                   "status_updates": metrics.status_updates},
        "roles": [(ROLES[r], ctx.display(p)) for r, p in incident.roles.items() if r in ROLES],
        "declared_by": ctx.display(incident.declared_by),
        "timeline": [_entry(ctx, e) for e in events],
        "key_moments": [_entry(ctx, e) for e in events if e.kind in ("key_moment", "pinned")],
        "status_updates": [_entry(ctx, e) for e in events if e.kind == "status_update"],
        "links": _links(service.runbook, service.dashboards, events),
        "files": [f for e in events for f in e.data.get("files", [])],
        "actions": [_action(ctx, a) for a in actions],
        "cause": postmortem.cause,
        "repeats": [r for r in repeats if r.incident_id != incident.id],
        "repeat_sentence": repeat_sentence(ctx, incident, repeats),
        "went_well": _went_well(ctx, incident, events),
        "went_badly": _went_badly(ctx, incident, events),
        "backfill_problem": problem,
    }


def _render_draft(ctx: Context, values: dict[str, Any]) -> str:
    """The team's template if the catalog names one, else `templates/postmortem.md.j2`."""
    custom = ctx.catalog.postmortem.template
    if custom is None:
        return render("postmortem.md", **values)
    path = Path(custom).expanduser().resolve()
    if not path.is_file():
        raise TemplateProblem(f"the postmortem template {path} does not exist (catalog: "
                              "postmortem.template)")
    name = path.name.removesuffix(".j2")
    try:
        return render(name, extra_dir=str(path.parent), **values)
    except TemplateProblem as error:
        raise TemplateProblem(
            f"the postmortem template {path} is broken, so no draft was written: "
            f"{error.__cause__ or error}"
        ) from error
    except Exception as error:  # a sandboxed template can still divide by zero
        raise TemplateProblem(
            f"the postmortem template {path} failed, so no draft was written: "
            f"{type(error).__name__}: {error}"
        ) from error


def _entry(ctx: Context, event: TimelineEvent) -> dict[str, Any]:
    data = event.data
    marks = [label for key, label in (("key_moment", "key moment"), ("pinned", "pinned"),
                                      ("edited", "edited"), ("backfilled", "from history"))
             if data.get(key)]
    deleted = bool(data.get("deleted"))
    return {
        "at": event.at, "kind": event.kind.replace("_", " "), "raw_kind": event.kind,
        "who": ctx.display(event.actor) or "", "text": "(message deleted)" if deleted else event.text,
        "marks": marks, "deleted": deleted, "files": data.get("files", []),
        "links": data.get("links", []), "history": data.get("history", []),
    }


def _action(ctx: Context, item: ActionItem) -> dict[str, Any]:
    return {"id": item.id, "ref": item.ref, "title": item.title, "owner": ctx.display(item.owner),
            "due": item.due_on.isoformat(), "ticket": item.ticket, "state": item.state.value}


def _links(runbook: str | None, dashboards: list[str], events: list[TimelineEvent]) -> list[str]:
    found = ([runbook] if runbook else []) + list(dashboards)
    for event in events:
        if not event.data.get("deleted"):
            found += event.data.get("links", [])
            found += [f["url"] for f in event.data.get("files", []) if f.get("url")]
    return list(dict.fromkeys(found))


def _went_well(ctx: Context, incident: Incident, events: list[TimelineEvent]) -> list[str]:
    points = []
    response = ctx.catalog.response_for(incident.priority)
    if incident.acknowledged_at is not None:
        took = incident.acknowledged_at - incident.declared_at
        if took.total_seconds() <= response.ack_within.seconds:
            points.append(f"Acknowledged within the {incident.priority} target "
                          f"({response.ack_within}).")
    if any(e.kind == "status_update" for e in events):
        points.append("Status updates were posted during the incident.")
    return points


def _went_badly(ctx: Context, incident: Incident, events: list[TimelineEvent]) -> list[str]:
    points = []
    escalations = sum(1 for e in events if e.kind == "escalated")
    if escalations:
        points.append(f"The page escalated {escalations} time(s) before someone acknowledged.")
    reminders = sum(1 for e in events if e.kind == "update_reminder")
    if reminders:
        points.append(f"{reminders} status-update reminder(s) fired: updates were late.")
    failed = sum(1 for e in events if e.kind in ("delivery_failed", "page_failed"))
    if failed:
        points.append(f"{failed} notification(s) could not be delivered.")
    return points


def _share(
    ctx: Context, effects: list[Effect], incident: Incident, text: str,
    flags: list[blameless.BlameFlag],
) -> None:
    """As a file where the chat can take one, else as a message."""
    assert incident.id is not None
    summary = render("postmortem_posted", incident=incident, flags=flags)
    chat = ctx.chat
    if incident.channel and isinstance(chat, FileUpload):
        channel = incident.channel
        ctx.post(effects, incident, Message(summary))
        effects.append(Effect(incident.id, "postmortem upload", lambda: chat.upload(
            channel=channel, filename=f"postmortem-{incident.ref}.md",
            title=f"Postmortem draft: {incident.ref} {incident.title}", content=text,
        )))
    else:
        ctx.post(effects, incident, Message(summary + "\n\n" + text))


def _people_names(ctx: Context) -> list[str]:
    names: list[str] = []
    for person in ctx.catalog.people:
        names += [person.id, person.name, person.name.split()[0]]
        names += [f"<@{chat_id}>" for chat_id in (person.slack, person.teams) if chat_id]
    return names


def _system_names(ctx: Context) -> list[str]:
    catalog = ctx.catalog
    return [n for s in catalog.services for n in (s.id, s.name)] + [
        n for t in catalog.teams for n in (t.id, t.name)
    ]

