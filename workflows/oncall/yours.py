"""Which schedule a person means when they name none: `/oncall swap`, `/oncall cover 2h`."""

from __future__ import annotations

from workflows.context import Context
from workflows.oncall.schedules import on_call
from workflows.ports import InvalidRequest


def your_schedule(ctx: Context, *, person: str, named: str | None = None) -> str:
    """The schedule `named` (already resolved to one id), else the one `person` is on call for
    now, else the one they are a member of; InvalidRequest naming the choices when that is not
    exactly one."""
    if named is not None:
        return named
    catalog = ctx.catalog
    now = ctx.now()
    mine = [s.id for s in catalog.schedules if person in on_call(catalog, schedule_id=s.id, at=now)]
    mine = mine or [
        s.id for s in catalog.schedules if any(person in layer.members for layer in s.all_layers)
    ]
    if len(mine) == 1:
        return mine[0]
    raise InvalidRequest(
        "which schedule? Name it first, e.g. `/oncall cover payments-primary 2h` (schedules: "
        + ", ".join(mine or [s.id for s in catalog.schedules]) + ")"
    )
