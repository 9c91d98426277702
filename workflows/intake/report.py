"""A person's report (`/incident report`): a signal like any alert, routed, grouped, ticketed and
maybe paged. The catalog's `intake.report` gives the severity and urgency a report lacks."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from workflows.context import Context
from workflows.intake.intake import intake
from workflows.intake.signals import Action, Signal

# The labels a person may set on a report; everything else they type is the summary.
LABELS = ("service", "severity", "urgency", "environment")


@dataclass(frozen=True)
class ReportOutcome:
    """What became of a report: unrouted, stored with its incident still to open, or an incident."""

    routed: bool
    incident_ref: str | None = None  # "INC-12"
    priority: str | None = None
    paged: bool = False  # its priority pages; otherwise it waits in `team`'s queue
    team: str | None = None  # the owning team's name


def report(ctx: Context, *, actor: str, summary: str, options: Mapping[str, str],
           text: str = "") -> ReportOutcome:
    """Take `actor`'s report of `summary` (`options`: any of LABELS) as a signal.

    `text` is what the person typed, kept as the signal's payload."""
    defaults = ctx.catalog.intake.report
    labels = {"alertname": "manual report", "severity": options.get("severity", defaults.severity),
              "urgency": options.get("urgency", defaults.urgency)}
    labels.update({k: options[k] for k in ("service", "environment") if k in options})
    signal = Signal(source="report", integration=f"person:{actor}", action=Action.TRIGGER,
                    dedup_key=uuid.uuid4().hex, labels=labels, summary=summary[:500],
                    description=f"Reported by {ctx.display(actor)}: {summary}", reporter=actor,
                    payload={"text": text or summary})
    outcome = intake(ctx, [signal])[0]
    if not outcome.routed or outcome.incident_id is None:
        return ReportOutcome(routed=outcome.routed)
    with ctx.store.transaction() as tx:
        incident = tx.get_incident(outcome.incident_id)
    return ReportOutcome(
        routed=True, incident_ref=incident.ref, priority=incident.priority,
        paged=ctx.catalog.response_for(incident.priority).pages,
        team=ctx.catalog.team(incident.team).name,
    )
