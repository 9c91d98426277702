"""`/incident report` and `/incident unrouted`: the words, shared by Slack, Teams and the console."""

from __future__ import annotations

import shlex
import uuid

from workflows.context import Context
from workflows.intake.intake import intake
from workflows.intake.signals import Action, Signal
from workflows.ports import InvalidRequest
from workflows.render import render

USAGE = ("usage: `/incident report [service=<id>] [severity=...] [urgency=...] "
         "[environment=...] <what is wrong>`")
_OPTIONS = ("service", "severity", "urgency", "environment")


def report(ctx: Context, *, actor: str, text: str) -> str:
    """A person's report is a signal like any alert: routed, grouped, ticketed, maybe paged."""
    options, words = _parse(text)
    summary = " ".join(words).strip()
    if not summary:
        raise InvalidRequest(USAGE)
    defaults = ctx.catalog.intake.report
    labels = {"alertname": "manual report", "severity": options.get("severity", defaults.severity),
              "urgency": options.get("urgency", defaults.urgency)}
    labels.update({k: options[k] for k in ("service", "environment") if k in options})
    signal = Signal(source="report", integration=f"person:{actor}", action=Action.TRIGGER,
                    dedup_key=uuid.uuid4().hex, labels=labels, summary=summary[:500],
                    description=f"Reported by {ctx.display(actor)}: {summary}", reporter=actor,
                    payload={"text": text})
    outcome = intake(ctx, [signal])[0]
    if not outcome.routed:
        return ("Thanks — your report is kept, but no service matches it, so nobody was paged. "
                "The catalog's owners were told; name a service with `service=<id>`.")
    if outcome.incident_id is None:
        return "Thanks — your report is stored; opening its incident failed and will be retried."
    with ctx.store.transaction() as tx:
        incident = tx.get_incident(outcome.incident_id)
    pages = ctx.catalog.response_for(incident.priority).page
    where = "on-call is paged" if pages else f"it is in {ctx.catalog.team(incident.team).name}'s queue"
    return f"Thanks — your report is {incident.ref} ({incident.priority}); {where}."


def unrouted(ctx: Context, *, limit: int = 20) -> str:
    """Open alerts no service matched: nobody is paged for them until the catalog says who owns them."""
    with ctx.unit() as uow:
        itx = uow.intake
        alerts = itx.unrouted(limit=limit)
    return render("unrouted_list", alerts=alerts, zone=ctx.catalog.timezone)


def _parse(text: str) -> tuple[dict[str, str], list[str]]:
    try:
        tokens = shlex.split(text)
    except ValueError:
        tokens = text.split()
    options: dict[str, str] = {}
    words = []
    for token in tokens:
        key, sep, value = token.partition("=")
        if sep and key.lower() in _OPTIONS:
            options[key.lower()] = value.strip()
        else:
            words.append(token)
    return options, words
