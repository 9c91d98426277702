"""Stakeholders: who follows an incident or a service, and the email they are sent.

(Being built: subscriptions, stakeholder email, the postmortem-published notice.)
"""

from __future__ import annotations

from workflows.context import Context
from workflows.model import Incident
from workflows.outbox import ClaimedEffect
from workflows.unit import Unit


def notify_stakeholders(
    ctx: Context, uow: Unit, incident: Incident, *, subject: str, text: str
) -> None:
    """A stakeholder update of `incident`: owed to the people who follow it or its service."""


def send_email(ctx: Context, effect: ClaimedEffect) -> None:
    """Performs an EMAIL effect."""
