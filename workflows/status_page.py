"""The public status page: what customers read about the services, from public updates.

Firebell serves its own page (`GET /status`, `/status.json`) and, when a hosted Atlassian
Statuspage is configured (`ctx.status_page`), keeps that one in step.

What may be public is decided here, and it is little: an incident appears only once a status
update was posted to the "public" audience (`/incident status ... ` with public ticked), and then
only as its service's name, an impact read from its priority, the texts of its public updates
and their times. Never its own title, its people, its channel, its internal updates, nor a drill.
A security incident is no exception to the rule and gets no exception from it: without a public
update it is not there at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from workflows.catalog.model import Catalog, Service
from workflows.context import Context
from workflows.model import Incident, Stage, State, TimelineEvent
from workflows.outbox import ClaimedEffect, Effect, EffectKind
from workflows.render import render
from workflows.unit import Unit

# The public status of a component, worst last; and what Statuspage calls each impact.
OPERATIONAL, DEGRADED, OUTAGE = "operational", "degraded", "outage"
_RANK = {OPERATIONAL: 0, DEGRADED: 1, OUTAGE: 2}
_IMPACT_WORDS = {"operational": "operational", "degraded_performance": "degraded performance",
                 "partial_outage": "partial outage", "major_outage": "major outage"}
HOSTED = "statuspage"  # the purpose under which the hosted incident's id is kept (`Posts`)
_SCAN = 1000  # incidents looked at for the history, newest first


@dataclass(frozen=True)
class PublicUpdate:
    stage: str
    text: str
    at: datetime


@dataclass(frozen=True)
class PublicIncident:
    ref: str  # "INC-7": how a customer names it to support
    title: str  # the service and the impact, never the incident's own title
    service: str
    status: str  # operational | degraded | outage (while open)
    impact: str  # Statuspage's words: degraded_performance | partial_outage | major_outage
    started_at: datetime
    resolved_at: datetime | None
    updates: tuple[PublicUpdate, ...]  # oldest first


@dataclass(frozen=True)
class Component:
    id: str
    name: str
    status: str  # operational | degraded | outage
    impact: str  # operational | degraded_performance | partial_outage | major_outage

    @property
    def impact_words(self) -> str:
        return _IMPACT_WORDS[self.impact]


@dataclass(frozen=True)
class StatusPage:
    title: str
    at: datetime
    status: str  # the worst of the components
    components: tuple[Component, ...]
    incidents: tuple[PublicIncident, ...]  # open, newest first
    history: tuple[PublicIncident, ...]  # resolved within `history_days`, newest first
    history_days: int


def impact(incident: Incident) -> tuple[str, str]:
    """(public status, Statuspage impact) of an open incident: P1 is a major outage, P2 a partial
    outage, anything else degraded performance; once mitigated (impact stopped, the fix watched)
    degraded performance whatever its priority."""
    if incident.state == State.MITIGATED:
        return DEGRADED, "degraded_performance"
    if incident.priority == "P1":
        return OUTAGE, "major_outage"
    return DEGRADED, "partial_outage" if incident.priority == "P2" else "degraded_performance"


def shown_services(catalog: Catalog) -> list[Service]:
    """The services the page shows, in the catalog's order (or the page's own list's)."""
    page = catalog.status_page
    if page.services is not None:
        return [catalog.service(service) for service in page.services]
    return [s for s in catalog.services if s.environment.lower() in ("production", "prod")]


def public_updates(events: list[TimelineEvent]) -> tuple[PublicUpdate, ...]:
    return tuple(
        PublicUpdate(stage=str(e.data.get("stage") or ""), text=e.text, at=e.at)
        for e in events
        if e.kind == "status_update" and "public" in (e.data.get("audience") or [])
    )


def status_page(ctx: Context) -> StatusPage:
    """The page as it is now: components, open public incidents and the recent history."""
    now = ctx.now()
    page = ctx.catalog.status_page
    services = shown_services(ctx.catalog)
    names = {s.id: s.name for s in services}
    since = now - timedelta(days=page.history_days)
    shown: list[PublicIncident] = []
    with ctx.reading() as uow:
        for incident in uow.incidents.list_incidents(open_only=False, limit=_SCAN):
            recent = incident.resolved_at is not None and incident.resolved_at >= since
            if incident.drill or incident.service not in names or not (incident.is_open or recent):
                continue
            updates = public_updates(uow.timeline.events(incident.id or 0))
            if updates:
                shown.append(_public(incident, names[incident.service], updates))
    open_ = tuple(i for i in shown if i.resolved_at is None)
    components = tuple(_component(s, [i for i in open_ if i.service == s.id]) for s in services)
    worst = max((c.status for c in components), key=_RANK.__getitem__, default=OPERATIONAL)
    history = tuple(sorted((i for i in shown if i.resolved_at is not None),
                           key=lambda i: i.resolved_at or now, reverse=True))
    return StatusPage(title=page.title, at=now, status=worst, components=components,
                      incidents=open_, history=history, history_days=page.history_days)


def _public(incident: Incident, service: str, updates: tuple[PublicUpdate, ...]) -> PublicIncident:
    status, hosted = impact(incident)
    resolved = None if incident.is_open else incident.resolved_at or incident.closed_at
    return PublicIncident(
        ref=incident.ref, service=incident.service, status=status, impact=hosted,
        title=render("status_page_title", service=service, impact=_IMPACT_WORDS[hosted]),
        started_at=incident.declared_at, resolved_at=resolved, updates=updates,
    )


def _component(service: Service, incidents: list[PublicIncident]) -> Component:
    worst = max(incidents, key=lambda i: (_RANK[i.status], i.impact == "partial_outage"),
                default=None)
    if worst is None:
        return Component(service.id, service.name, OPERATIONAL, "operational")
    return Component(service.id, service.name, worst.status, worst.impact)


# keeping the hosted page in step -------------------------------------------------------------
def publish_update(ctx: Context, uow: Unit, incident: Incident, *, stage: str, text: str) -> None:
    """A public status update of `incident`. Firebell's own page reads it from the timeline (the
    caller records it there); a hosted status page is owed the same update."""
    if _hosted(ctx, incident):
        uow.owe(Effect(EffectKind.STATUS_PAGE, incident.id, {"stage": stage, "text": text}))


def publish_resolution(ctx: Context, uow: Unit, incident: Incident) -> None:
    """`incident` is resolved (or closed while open): a hosted page that shows it is told so."""
    if not _hosted(ctx, incident) or not public_updates(uow.timeline.events(incident.id or 0)):
        return
    uow.owe(Effect(EffectKind.STATUS_PAGE, incident.id, {"resolved": True}))


def _hosted(ctx: Context, incident: Incident) -> bool:
    return (ctx.status_page is not None and incident.id is not None and not incident.drill
            and incident.service in {s.id for s in shown_services(ctx.catalog)})


def sync_status_page(ctx: Context, effect: ClaimedEffect) -> str | None:
    """Performs a STATUS_PAGE effect: the hosted incident created at its first public update,
    updated at each later one, resolved with the incident; its id there is kept (`Posts`)."""
    port = ctx.status_page
    if port is None or effect.incident_id is None:
        return None  # switched off since it was owed
    with ctx.reading() as uow:
        incident = uow.incidents.get_incident(effect.incident_id)
        ref = uow.posts.post_ref(effect.incident_id, HOSTED)
        updates = public_updates(uow.timeline.events(effect.incident_id))
    service = ctx.catalog.service(incident.service)
    component = ctx.catalog.status_page.statuspage.components.get(incident.service)
    if effect.payload.get("resolved"):
        status, body = "resolved", render("status_page_resolved", service=service.name)
        # The component shows what is left: another public incident of the service, or nothing.
        left = next((c.impact for c in status_page(ctx).components if c.id == incident.service),
                    "operational")
    else:
        stage = str(effect.payload.get("stage") or Stage.INVESTIGATING.value)
        status, body = stage.lower(), str(effect.payload.get("text") or "")
        left = impact(incident)[1]
    _, hosted = impact(incident)
    name = render("status_page_title", service=service.name, impact=_IMPACT_WORDS[hosted])
    hosted_id = port.sync_incident(
        ref=ref, tag=incident.ref, name=f"{name} ({incident.ref})", status=status, body=body,
        components={component: left} if component else {},
        retried=effect.attempts > 1 or (ref is None and len(updates) > 1),
    )
    if ref is None:
        with ctx.unit() as uow:
            uow.posts.keep_post(effect.incident_id, HOSTED, hosted_id, at=ctx.now())
    return hosted_id
