"""Who may do what: only people in the catalog act, unless the catalog's `access:` widens it.

Anyone who can reach Firebell may ask (who is on call, help, the list of incidents, a timeline).
Every verb that changes something is, by default, for people in the catalog only: a stranger in
the Slack workspace who acknowledged a P1 would stop its escalation with nobody on it.
`bot/` maps each command to one of `VERBS` and asks `may` before it runs the command.
"""

from __future__ import annotations

from workflows.catalog.model import Catalog, Person
from workflows.ports import FirebellError

ASK = "ask"  # reading: always allowed

# Each verb that changes something (a key of the catalog's `access:`), and how a refusal names it.
VERBS: dict[str, str] = {
    "declare": "declare an incident",
    "report": "report a problem",
    "acknowledge": "acknowledge {incident}",
    "status": "post a status update on {incident}",
    "severity": "change the severity of {incident}",
    "priority": "change the priority of {incident}",
    "role": "assign roles in {incident}",
    "page": "page people for {incident}",
    "escalate": "escalate {incident}",
    "reassign": "reassign {incident}",
    "notified": "mark a notification of {incident} as sent",
    "mitigate": "mark {incident} mitigated",
    "resolve": "resolve {incident}",
    "reopen": "reopen {incident}",
    "close": "close {incident}",
    "note": "add notes to {incident}",
    "bridge": "set the bridge of {incident}",
    "postmortem": "change the postmortem of {incident}",
    "action": "add or complete action items",
    "handoff": "hand off {incident}",
    "cause": "tag the cause of {incident}",
    "schedule": "change on-call schedules",
}  # the same keys as the catalog's `Access`, apart from its default `act`


class NotAllowed(FirebellError):
    """The person may not do this; the message says why and what to do about it."""


def may(catalog: Catalog, person: Person | None, verb: str) -> str | None:
    """None when `person` may do `verb`; otherwise why not, as a clause ("you are not in ...").

    `person` is None for someone the catalog does not know (a Slack or Teams user id that no
    person has). `verb` is `ASK` or a key of `VERBS`.
    """
    if verb == ASK:
        return None
    if verb not in VERBS:
        raise ValueError(f"unknown verb {verb!r}")
    if person is not None or catalog.access.audience(verb) == "workspace":
        return None
    return "you are not in Firebell's catalog"


def describe(verb: str, *, incident: str | None = None) -> str:
    """What doing `verb` is, for a refusal: "acknowledge INC-4", "declare an incident"."""
    return VERBS[verb].format(incident=incident or "incidents")
