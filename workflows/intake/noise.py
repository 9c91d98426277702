"""The noise report: per alert rule and service, how many signals came, how many alerts they
made, how many were acknowledged and acted on, how many resolved by themselves — the monthly
review of which alerts deserve to wake someone."""

from __future__ import annotations

from datetime import datetime, timedelta

from workflows.context import Context
from workflows.intake.signals import NoiseRow
from workflows.ports import InvalidRequest


def noise_report(
    ctx: Context, *, since: datetime | None = None, until: datetime | None = None
) -> list[NoiseRow]:
    """Rows for `since`..`until` (default: the last 30 days), noisiest first."""
    until = until or ctx.now() + timedelta(seconds=1)  # the period is half-open: include now
    since = since or until - timedelta(days=30)
    if since >= until:
        raise InvalidRequest(f"the report's period is empty ({since} to {until})")
    with ctx.unit() as uow:
        return uow.intake.noise(since=since, until=until)
