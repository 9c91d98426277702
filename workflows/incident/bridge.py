"""The incident's conference bridge: from the catalog when it is declared (`bridge:` of its
team, else the catalog's; a fixed URL or a template), or set with `/incident bridge <url>`.
It is shown in the channel's topic and as its bookmark, on the live card and in pages."""

from __future__ import annotations

import re

from workflows.catalog.model import Catalog
from workflows.context import Context, record
from workflows.model import Incident, channel_name
from workflows.outbox import Effect, EffectKind
from workflows.ports import InvalidRequest, Message
from workflows.render import render

BRIDGE_TITLE = "Bridge"  # the channel bookmark's title


def bridge_from_catalog(catalog: Catalog, incident: Incident) -> str | None:
    """The bridge the catalog gives `incident` (its id must be known): the team's `bridge`,
    else the catalog's, with `{incident_slug}`, `{incident_id}` and `{incident_ref}` filled."""
    template = catalog.team(incident.team).bridge or catalog.bridge
    if not template:
        return None
    values = {"incident_slug": channel_name(incident), "incident_id": str(incident.id),
              "incident_ref": incident.ref}
    # The catalog check allows only these names, so each {...} is one of them.
    return re.sub(r"\{([a-z_]+)\}", lambda m: values[m.group(1)], template)


def set_bridge(ctx: Context, *, incident_id: int, url: str, actor: str) -> Incident:
    """`/incident bridge <url>`: the incident's bridge is `url` from now on; the timeline, the
    channel's topic and bookmark, and the card say so."""
    link = url.strip()
    if not re.fullmatch(r"https?://[^\s<>|\"]+", link, flags=re.IGNORECASE):
        raise InvalidRequest(f"the bridge must be an http:// or https:// link (got '{link[:80]}'), "
                             "e.g. `/incident bridge https://meet.jit.si/inc-42`")
    with ctx.unit() as uow:
        incident = uow.incidents.get_incident(incident_id, for_update=True)
        if not incident.is_open:
            raise InvalidRequest(f"{incident.ref} is {incident.state.value}")
        before, incident.bridge = incident.bridge, link
        uow.incidents.save_incident(incident)
        record(uow, incident, kind="bridge_set", at=ctx.now(), actor=actor, text=link,
               data={"url": link, "before": before})
        uow.post(incident, Message(render("bridge_set", incident=incident,
                                          actor=ctx.display(actor), replaced=bool(before))))
        uow.refresh(incident)
        uow.owe(Effect(EffectKind.BOOKMARK, incident_id, {}))
    return incident
