"""Postmortems: a draft rendered from the timeline, its states, its due date and reminders.

`/incident postmortem` backfills the channel history (when the chat can read it), renders the
team's template in the sandbox, runs the blameless check, stores the draft and posts it.
States: pending (owed, nothing drafted) -> draft -> in review -> published.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from workflows.business_time import deadline
from workflows.context import Context, record
from workflows.followup import blameless
from workflows.followup.actions import reminder_after
from workflows.followup.draft import (
    people_names,
    render_draft,
    share_draft,
    system_names,
    template_values,
)
from workflows.followup.model import (
    FollowUpRecords,
    Postmortem,
    PostmortemState,
    RepeatIncident,
)
from workflows.incident.capture import backfill
from workflows.model import Incident
from workflows.ports import (
    ChannelHistory,
    ExternalServiceError,
    InvalidRequest,
    Message,
)
from workflows.render import render
from workflows.stakeholders import notify_postmortem_published
from workflows.unit import Unit

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
    with ctx.unit() as uow:
        incident = uow.incidents.get_incident(incident_id)
        existing = uow.followups.postmortem(incident_id)
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
    with ctx.unit() as uow:
        incident = uow.incidents.get_incident(incident_id, for_update=True)
        records = uow.followups
        postmortem = ensure_postmortem(ctx, records, incident)
        repeats = _repeats(ctx, records, incident, postmortem.cause)
        values = template_values(
            ctx, uow, records, incident=incident, postmortem=postmortem, repeats=repeats,
            repeat_sentence=repeat_sentence(ctx, incident, repeats), problem=problem,
        )
        text = render_draft(ctx, values)
        flags = blameless.check(text, people=people_names(ctx), systems=system_names(ctx))
        if flags:
            text += "\n\n" + render("postmortem_blameless.md", flags=flags)
        now = ctx.now()
        postmortem.text, postmortem.flags = text, [vars(f) for f in flags]
        postmortem.state, postmortem.drafted_at, postmortem.updated_at = (
            PostmortemState.DRAFT, now, now,
        )
        records.save_postmortem(postmortem)
        record(uow, incident, kind="postmortem_drafted", at=now, actor=actor,
               text=f"{len(flags)} blameless flag(s)" if flags else "",
               data={"backfilled": added})
        share_draft(ctx, uow, incident, text, flags)
    return Draft(postmortem, text, flags, added, problem, repeats)


def change_state(
    ctx: Context, *, incident_id: int, to: str, actor: str, note: str = ""
) -> Postmortem:
    """`review`, `publish` or `reopen` the postmortem; `note` goes on the record with it."""
    if to not in _NEXT_STATE:
        raise InvalidRequest(f"unknown postmortem step '{to}': use {', '.join(_NEXT_STATE)}")
    target, allowed = _NEXT_STATE[to]
    with ctx.unit() as uow:
        incident = uow.incidents.get_incident(incident_id, for_update=True)
        records = uow.followups
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
        record(uow, incident, kind="postmortem_state", at=now, actor=actor,
               text=f"{target.label}: {note}" if note else target.label,
               data={"state": target.value, **({"note": note} if note else {})})
        if target == PostmortemState.PUBLISHED:
            notify_postmortem_published(ctx, uow, incident, postmortem, actor=actor)
        uow.post(incident, Message(render(
            "postmortem_moved", incident=incident, state=target.label, actor=ctx.display(actor))))
    return postmortem


def tag_cause(ctx: Context, *, incident_id: int, tag: str, actor: str) -> CauseTagged:
    """Tag the cause; incidents on the same service with the same tag are linked as repeats."""
    cause = tag.strip().lower().strip("#")
    allowed = ctx.catalog.postmortem.cause_tags
    if not cause or (allowed and cause not in allowed):
        raise InvalidRequest(
            "usage: `/incident cause <tag>`" + (f"; tags: {', '.join(allowed)}" if allowed else "")
        )
    with ctx.unit() as uow:
        incident = uow.incidents.get_incident(incident_id, for_update=True)
        records = uow.followups
        postmortem = ensure_postmortem(ctx, records, incident)
        postmortem.cause, postmortem.updated_at = cause, ctx.now()
        records.save_postmortem(postmortem)
        repeats = _repeats(ctx, records, incident, cause)
        sentence = repeat_sentence(ctx, incident, repeats)
        record(uow, incident, kind="cause_tagged", at=ctx.now(), actor=actor, text=cause,
               data={"cause": cause, "repeats": [r.incident_id for r in repeats]})
        if sentence:
            others = ", ".join(f"INC-{r.incident_id}" for r in repeats if r.incident_id != incident_id)
            uow.post(incident, Message(render(
                "cause_repeats", cause=cause, sentence=sentence, others=others)))
    return CauseTagged(cause, repeats, sentence)


def status(ctx: Context, *, incident_id: int) -> str:
    """One line: state, due date, cause, reminders."""
    with ctx.unit() as uow:
        incident = uow.incidents.get_incident(incident_id)
        postmortem = uow.followups.postmortem(incident_id)
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
    with ctx.unit() as uow:
        incident = uow.incidents.get_incident(incident_id)
        records = uow.followups
        postmortem = records.postmortem(incident_id)
        if postmortem is not None and postmortem.text:
            return postmortem.text
        postmortem = postmortem or Postmortem(incident_id=incident_id, created_at=ctx.now())
        repeats = _repeats(ctx, records, incident, postmortem.cause)
        return render_draft(ctx, template_values(
            ctx, uow, records, incident=incident, postmortem=postmortem, repeats=repeats,
            repeat_sentence=repeat_sentence(ctx, incident, repeats), problem=None,
        ))


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
    ctx: Context, uow: Unit, postmortem: Postmortem
) -> None:
    """A due, unpublished postmortem: remind the commander, then again every `remind_every`."""
    incident = uow.incidents.get_incident(postmortem.incident_id)
    now = ctx.now()
    policy = ctx.catalog.postmortem
    postmortem.next_reminder_at = reminder_after(ctx, policy.remind_every)
    if incident.is_open:  # reopened: the postmortem waits for the new resolution
        uow.followups.save_postmortem(postmortem)
        return
    owner = incident.commander or incident.acknowledged_by or incident.declared_by
    postmortem.reminders += 1
    uow.followups.save_postmortem(postmortem)
    zone = ctx.catalog.timezone
    text = render("postmortem_reminder", incident=incident, postmortem=postmortem, zone=zone,
                  owner=ctx.display(owner))
    record(uow, incident, kind="postmortem_reminder", at=now, actor=None, text=text,
           data={"owner": owner, "state": postmortem.state.value})
    assert incident.id is not None
    if owner and ctx.knows(owner):
        uow.send_direct(person=owner, message=Message(text), incident_id=incident.id)
    else:
        uow.post(incident, Message(text))


def repeat_sentence(ctx: Context, incident: Incident, repeats: list[RepeatIncident]) -> str | None:
    """"third incident on Checkout API in 30 days", or None when it is the only one."""
    if len(repeats) < 2:
        return None
    position = next((i for i, r in enumerate(repeats, 1) if r.incident_id == incident.id),
                    len(repeats))
    ordinal = _ORDINALS[position - 1] if position <= len(_ORDINALS) else f"{position}th"
    days = ctx.catalog.postmortem.repeat_window.seconds // 86400
    return f"{ordinal} incident on {ctx.catalog.service(incident.service).name} in {days} days"


def _repeats(
    ctx: Context, records: FollowUpRecords, incident: Incident, cause: str | None
) -> list[RepeatIncident]:
    if not cause:
        return []
    window = timedelta(seconds=ctx.catalog.postmortem.repeat_window.seconds)
    return records.repeats(service=incident.service, cause=cause,
                           since=incident.declared_at - window, until=incident.declared_at)
