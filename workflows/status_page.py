"""The public status page: what customers read about the services, from public updates.

(Being built: Firebell's own page and the hosted status page in step with it.)
"""

from __future__ import annotations

from workflows.context import Context
from workflows.model import Incident
from workflows.outbox import ClaimedEffect
from workflows.unit import Unit


def publish_update(ctx: Context, uow: Unit, incident: Incident, *, stage: str, text: str) -> None:
    """A public status update of `incident` (the status page shows it)."""


def sync_status_page(ctx: Context, effect: ClaimedEffect) -> None:
    """Performs a STATUS_PAGE effect."""
