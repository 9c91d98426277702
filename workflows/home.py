"""A person's home (Slack App Home): their open incidents, next shifts, who is on call.

(Being built.)
"""

from __future__ import annotations

from workflows.context import Context
from workflows.outbox import ClaimedEffect


def publish_homes(ctx: Context, effect: ClaimedEffect) -> None:
    """Performs a HOME effect: the homes of the people an incident concerns, published again."""
