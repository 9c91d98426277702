"""Stakeholders: who follows an incident or a service, and the email they are sent.

A person follows one incident (`/incident subscribe`) or a service's stakeholder updates
(`/oncall subscribe checkout`). A stakeholder update (`notify_stakeholders`) and the
postmortem-published notice owe one EMAIL effect to the followers who have an address, in the
same transaction as the update, plus a direct chat message to each follower, so that people
without an address hear too. A restricted (security, privacy) incident tells the followers of
its service only that a restricted incident is being handled; only people who are part of it
may follow it.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from workflows.access import NotAllowed
from workflows.catalog.model import Service
from workflows.context import Context, record
from workflows.followup.model import Postmortem
from workflows.model import Incident
from workflows.outbox import ClaimedEffect, Effect, EffectKind
from workflows.ports import InvalidRequest, Message, NotFound
from workflows.render import render
from workflows.unit import Unit

log = logging.getLogger(__name__)

INCIDENT, SERVICE = "incident", "service"


@dataclass(frozen=True)
class Following:
    """One thing a person follows, and whether the command changed anything."""

    kind: str  # "incident" | "service"
    target: str  # the incident's id, the service's id
    label: str  # "INC-7 Checkout is down", "Checkout API (checkout)"
    changed: bool = True


def subscribe(ctx: Context, *, person: str, incident_id: int | None = None,
              service: str | None = None) -> Following:
    """Follow an incident (its updates) or a service (the stakeholder updates of its incidents)."""
    _require_person(ctx, person)
    with ctx.unit() as uow:
        kind, target, label = _target(ctx, uow, incident_id=incident_id, service=service)
        if kind == INCIDENT:
            incident = uow.incidents.get_incident(int(target))
            if incident.security and not _involved(uow, incident, person):
                raise NotAllowed(f"{incident.ref} is restricted: its updates stay with the people "
                                 "handling it (follow its service for a notice without details)")
        changed = uow.subscriptions.subscribe(kind=kind, target=target, person=person,
                                              at=ctx.now())
        if changed and kind == INCIDENT:
            record(uow, incident, kind="subscribed", at=ctx.now(), actor=person,
                   text=f"{ctx.display(person)} follows the updates")
    return Following(kind, target, label, changed)


def unsubscribe(ctx: Context, *, person: str, incident_id: int | None = None,
                service: str | None = None) -> Following:
    """Stop following an incident or a service."""
    with ctx.unit() as uow:
        kind, target, label = _target(ctx, uow, incident_id=incident_id, service=service)
        changed = uow.subscriptions.unsubscribe(kind=kind, target=target, person=person)
    return Following(kind, target, label, changed)


def subscriptions(ctx: Context, *, person: str) -> list[Following]:
    """What `person` follows: services first, then incidents, in the order they followed them."""
    with ctx.reading() as uow:
        followed = uow.subscriptions.subscriptions_of(person)
        ids = [int(t) for k, t in followed if k == INCIDENT]
        incidents = uow.incidents.incidents_by_id(ids) if ids else {}
    result: list[Following] = []
    for kind, target in sorted(followed, key=lambda pair: pair[0] != SERVICE):
        if kind == SERVICE:
            result.append(Following(kind, target, _service_label(ctx, target)))
        elif int(target) in incidents:
            incident = incidents[int(target)]
            result.append(Following(kind, target, f"{incident.ref} {incident.title} "
                                                  f"({incident.state.value})"))
    return result


def notify_stakeholders(
    ctx: Context, uow: Unit, incident: Incident, *, subject: str, text: str
) -> None:
    """A stakeholder update of `incident`: owed to the people who follow it or its service."""
    assert incident.id is not None
    followers = _followers(uow, incident)
    by_incident = set(uow.subscriptions.subscribers(kind=INCIDENT, target=str(incident.id)))
    full = [p for p in followers if not incident.security or p in by_incident]
    restricted = [p for p in followers if p not in full]
    key = _key(incident, "update", ctx.now().isoformat(), subject, text)
    service = _service_label(ctx, incident.service)
    unfollow = _unfollow(incident)
    if full:
        body = render("email_update", incident=incident, text=text, service=service,
                      channel_url=_channel_url(ctx, incident), unfollow=unfollow)
        _owe(ctx, uow, incident, people=full, key=f"{key}:full",
             subject=f"[Firebell] {subject}", body=body, chat=text)
    if restricted:
        body = render("email_restricted", service=service, service_id=incident.service)
        _owe(ctx, uow, incident, people=restricted, key=f"{key}:restricted",
             subject=f"[Firebell] {service}: a restricted incident is being handled", body=body,
             chat=body.split("\n\n")[0])
    if followers:
        record(uow, incident, kind="stakeholders_notified", at=ctx.now(),
               text=f"update sent to {len(followers)} follower(s)"
                    + (f", {len(restricted)} without details" if restricted else ""),
               data={"people": followers})


def notify_postmortem_published(
    ctx: Context, uow: Unit, incident: Incident, postmortem: Postmortem, *, actor: str
) -> None:
    """The postmortem was published: its followers, its service's and its commander are told,
    with where to read it (not `actor`, who published it). A restricted incident's postmortem
    goes to its own followers and its commander only."""
    assert incident.id is not None
    followers = (uow.subscriptions.subscribers(kind=INCIDENT, target=str(incident.id))
                 if incident.security else _followers(uow, incident))
    if incident.commander and incident.commander not in followers and ctx.knows(incident.commander):
        followers.append(incident.commander)
    followers = [person for person in followers if person != actor]
    if not followers:
        return
    markdown_url = (f"{ctx.public_url.rstrip('/')}/api/v1/incidents/{incident.id}/postmortem"
                    if ctx.public_url else None)
    body = render("postmortem_published_email", incident=incident, summary=_summary(postmortem),
                  service=_service_label(ctx, incident.service), channel_url=_channel_url(ctx, incident),
                  markdown_url=markdown_url, unfollow=_unfollow(incident))
    key = _key(incident, "postmortem", str(postmortem.published_at))
    _owe(ctx, uow, incident, people=followers, key=key, body=body, chat=body.split("\n\n")[0],
         subject=f"[Firebell] Postmortem published: {incident.ref} {incident.title}")


def send_email(ctx: Context, effect: ClaimedEffect) -> None:
    """Performs an EMAIL effect: one message to its addresses, its Message-ID the effect's key
    (the same on every attempt). Without a mailer nothing is sent, and the incident's timeline
    says so."""
    to = [str(address) for address in effect.payload.get("to", [])]
    if ctx.mailer is None:
        why = (f"email to {len(to)} address(es) not sent: email is not configured "
               "(SMTP_URL or SMTP_HOST unset)")
        if effect.incident_id is None:
            log.warning("%s", why)
            return
        with ctx.unit() as uow:
            record(uow, uow.incidents.get_incident(effect.incident_id), kind="email_not_sent",
                   at=ctx.now(), text=why, data={"effect": effect.id})
        return
    ctx.mailer.send_email(to=to, subject=str(effect.payload["subject"]),
                          body=str(effect.payload["body"]), message_id=effect.key)


# helpers ---------------------------------------------------------------------------------
def _require_person(ctx: Context, person: str) -> None:
    if not ctx.knows(person):
        raise NotAllowed("you are not in Firebell's catalog: following needs your email "
                         "address or chat identity there")


def _target(ctx: Context, uow: Unit, *, incident_id: int | None,
            service: str | None) -> tuple[str, str, str]:
    if incident_id is not None:
        incident = uow.incidents.get_incident(incident_id)
        return INCIDENT, str(incident_id), f"{incident.ref} {incident.title}"
    if not service:
        raise InvalidRequest("which service? e.g. `/oncall subscribe checkout`")
    found = _service(ctx, service)
    return SERVICE, found.id, _service_label(ctx, found.id)


def _service(ctx: Context, name: str) -> Service:
    wanted = name.strip().lower()
    for service in ctx.catalog.services:
        if wanted in (service.id.lower(), service.name.lower()):
            return service
    known = ", ".join(s.id for s in ctx.catalog.services)
    raise NotFound(f"no service '{name}' in the catalog (services: {known})")


def _service_label(ctx: Context, service_id: str) -> str:
    try:
        service = ctx.catalog.service(service_id)
    except LookupError:
        return service_id
    return f"{service.name} ({service.id})" if service.name != service.id else service.id


def _involved(uow: Unit, incident: Incident, person: str) -> bool:
    """Part of the incident: a role, declared or acknowledged it, or was paged for it."""
    assert incident.id is not None
    return (person in incident.roles.values()
            or person in (incident.declared_by, incident.acknowledged_by)
            or any(page.person == person for page in uow.pages.pages(incident.id)))


def _followers(uow: Unit, incident: Incident) -> list[str]:
    """The incident's followers, then its service's, each once."""
    people = uow.subscriptions.subscribers(kind=INCIDENT, target=str(incident.id))
    people += uow.subscriptions.subscribers(kind=SERVICE, target=incident.service)
    return list(dict.fromkeys(people))


def _owe(ctx: Context, uow: Unit, incident: Incident, *, people: list[str], key: str,
         subject: str, body: str, chat: str) -> None:
    """One email to those of `people` with an address; a direct chat message to each who has a
    chat identity (people without an address hear there)."""
    assert incident.id is not None
    addresses: list[str] = []
    for person_id in people:
        if not ctx.knows(person_id):
            continue
        person = ctx.catalog.person(person_id)
        if person.email:
            addresses.append(person.email)
        if person.slack or person.teams:
            uow.send_direct(person=person_id, incident_id=incident.id, key=f"{key}:dm:{person_id}",
                            message=Message(chat))
    if addresses:
        uow.owe(Effect(EffectKind.EMAIL, incident.id,
                       {"to": list(dict.fromkeys(addresses)), "subject": subject, "body": body},
                       key=f"email:{key}"))


def _key(incident: Incident, event: str, *parts: str) -> str:
    digest = hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:12]
    return f"{incident.id}:{event}:{digest}"


def _channel_url(ctx: Context, incident: Incident) -> str | None:
    return ctx.chat.channel_url(incident.channel) if incident.channel else None


def _unfollow(incident: Incident) -> str:
    return (f"`/incident unsubscribe {incident.ref}` or "
            f"`/oncall unsubscribe {incident.service}`")


def _summary(postmortem: Postmortem) -> str:
    """The first paragraph of the postmortem's Summary section (the draft's own words)."""
    _, found, after = postmortem.text.partition("## Summary")
    if not found:
        return ""
    paragraphs = [p.strip() for p in after.split("\n\n") if p.strip()]
    return paragraphs[0] if paragraphs and not paragraphs[0].startswith("#") else ""
