"""The postmortem draft: what the template is given, how it is rendered, how it is shared.

`workflows.followup.postmortem` owns the flow (states, due dates, reminders, cause tags); this module
turns one incident's timeline, actions and repeats into the values of the team's template,
renders it in the sandbox and queues the post that shares it. It reads; it stores nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from workflows.context import Context
from workflows.followup import blameless
from workflows.followup.model import ActionItem, FollowUpRecords, Postmortem, RepeatIncident
from workflows.incident.metrics import incident_metrics
from workflows.model import ROLES, Incident, TimelineEvent
from workflows.outbox import Effect, EffectKind
from workflows.ports import FileUpload, Message
from workflows.render import TemplateProblem, render
from workflows.unit import Unit

# Events about the follow-up itself: not part of the incident's story.
FOLLOW_UP_KINDS = frozenset({
    "postmortem_drafted", "postmortem_state", "postmortem_reminder", "cause_tagged",
    "action_added", "action_done", "action_overdue", "ticket_failed", "handoff_reminder",
})


def template_values(
    ctx: Context, uow: Unit, records: FollowUpRecords, *, incident: Incident,
    postmortem: Postmortem, repeats: list[RepeatIncident], repeat_sentence: str | None,
    problem: str | None,
) -> dict[str, Any]:
    """Everything the postmortem template may use, read from the incident's timeline."""
    assert incident.id is not None
    catalog = ctx.catalog
    events = [e for e in uow.timeline.events(incident.id) if e.kind not in FOLLOW_UP_KINDS]
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
        "declared_by": ctx.display(incident.declared_by) or _opening_alert(events),
        "timeline": [_entry(ctx, e) for e in events],
        "key_moments": [_entry(ctx, e) for e in events if e.kind in ("key_moment", "pinned")],
        "status_updates": [_entry(ctx, e) for e in events if e.kind == "status_update"],
        "links": _links(service.runbook, service.dashboards, events),
        "files": [f for e in events for f in e.data.get("files", [])],
        "actions": [_action(ctx, a) for a in actions],
        "cause": postmortem.cause,
        "repeats": [r for r in repeats if r.incident_id != incident.id],
        "repeat_sentence": repeat_sentence,
        "went_well": _went_well(ctx, incident, events),
        "went_badly": _went_badly(ctx, incident, events),
        "backfill_problem": problem,
    }


def render_draft(ctx: Context, values: dict[str, Any]) -> str:
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
        "links": _urls(data.get("links")), "history": data.get("history", []),
    }


def _action(ctx: Context, item: ActionItem) -> dict[str, Any]:
    return {"id": item.id, "ref": item.ref, "title": item.title, "owner": ctx.display(item.owner),
            "due": item.due_on.isoformat(), "ticket": item.ticket, "state": item.state.value}


def _links(runbook: str | None, dashboards: list[str], events: list[TimelineEvent]) -> list[str]:
    found = ([runbook] if runbook else []) + list(dashboards)
    for event in events:
        if not event.data.get("deleted"):
            found += _urls(event.data.get("links"))
            found += [f["url"] for f in event.data.get("files", []) if f.get("url")]
    return list(dict.fromkeys(found))


def _opening_alert(events: list[TimelineEvent]) -> str | None:
    """Who opened an incident nobody declared: its first alert, by source."""
    alert = next((e for e in events if e.kind == "alert"), None)
    if alert is None:
        return None
    return f"an alert from {alert.data.get('source') or 'monitoring'} ({alert.text})"


def _urls(links: object) -> list[str]:
    """The URLs of an event's links: a chat message keeps URLs, an alert (label, URL) pairs."""
    if not isinstance(links, list):
        return []
    urls = [link[-1] if isinstance(link, list | tuple) and link else link for link in links]
    return [u for u in urls if isinstance(u, str) and u]


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


def share_draft(
    ctx: Context, uow: Unit, incident: Incident, text: str,
    flags: list[blameless.BlameFlag],
) -> None:
    """As a file where the chat can take one, else as a message."""
    assert incident.id is not None
    summary = render("postmortem_posted", incident=incident, flags=flags)
    chat = ctx.chat
    if incident.channel and isinstance(chat, FileUpload):
        uow.post(incident, Message(summary))
        uow.owe(Effect(EffectKind.UPLOAD, incident.id, {
            "channel": incident.channel, "filename": f"postmortem-{incident.ref}.md",
            "title": f"Postmortem draft: {incident.ref} {incident.title}", "content": text,
        }))
    else:
        uow.post(incident, Message(summary + "\n\n" + text))


def people_names(ctx: Context) -> list[str]:
    """Who the blameless check should not find named in the draft."""
    names: list[str] = []
    for person in ctx.catalog.people:
        names += [person.id, person.name, person.name.split()[0]]
        names += [f"<@{chat_id}>" for chat_id in (person.slack, person.teams) if chat_id]
    return names


def system_names(ctx: Context) -> list[str]:
    """Services and teams: names the blameless check must not mistake for people."""
    catalog = ctx.catalog
    return [n for s in catalog.services for n in (s.id, s.name)] + [
        n for t in catalog.teams for n in (t.id, t.name)
    ]
