"""Retention: what would otherwise grow without bound, deleted once it can no longer matter.

- Effects done or failed more than `EFFECTS_KEEP` ago. Their idempotency keys only guard a step
  repeated within minutes (a retry, a replica polling at once). A post written under a key of
  its own (a shift offer, a handoff notice) may be edited much later (`Unit.edit_posted` reads
  its result): kept `KEYED_POSTS_KEEP`.
- Ticket webhook deliveries received more than `DELIVERIES_KEEP` ago (trackers redeliver within
  hours; a redelivery after a week is acted on again, and a status change is idempotent).
- Answered Slack requests: `SqlRequestLog.prune`, with the window bot/slack/replays.py keeps.

Incidents, timelines, pages, alerts and signals are history (reports read them): never pruned.
Deletes go in batches of `BATCH` rows, each its own short transaction, so a large backlog never
holds the (SQLite: only) writer's lock for long.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, delete, not_, or_, select

from storage.db import utc
from storage.effect_tables import EffectRow
from storage.intake_tables import WebhookDeliveryRow

EFFECTS_KEEP = timedelta(days=7)
KEYED_POSTS_KEEP = timedelta(days=90)
DELIVERIES_KEEP = timedelta(days=7)
BATCH = 1000

EFFECTS = EffectRow.__table__  # type: ignore[attr-defined]
DELIVERIES = WebhookDeliveryRow.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Pruned:
    effects: int
    deliveries: int


def prune(engine: Engine, *, now: datetime, batch: int = BATCH) -> Pruned:
    """Delete what is past its retention at `now`; how many rows of each."""
    keyed_post = and_(EFFECTS.c.kind == "post", not_(EFFECTS.c.key.startswith("post:")))
    old_effect = and_(
        EFFECTS.c.status.in_(("done", "failed")),
        EFFECTS.c.done_at < utc(now - EFFECTS_KEEP),
        or_(not_(keyed_post), EFFECTS.c.done_at < utc(now - KEYED_POSTS_KEEP)),
    )
    old_delivery = DELIVERIES.c.received_at < utc(now - DELIVERIES_KEEP)
    return Pruned(
        effects=delete_in_batches(engine, EFFECTS, EFFECTS.c.id, old_effect, batch=batch),
        deliveries=delete_in_batches(engine, DELIVERIES, DELIVERIES.c.id, old_delivery,
                                     batch=batch),
    )


def delete_in_batches(engine: Engine, table: Any, key: Any, where: Any, *, batch: int) -> int:
    """Delete the rows of `table` matching `where`, `batch` at a time, each batch committed on
    its own; returns how many."""
    total = 0
    while True:
        with engine.begin() as connection:
            chosen = select(key).where(where).limit(batch)
            deleted = int(connection.execute(delete(table).where(key.in_(chosen))).rowcount)
        total += deleted
        if deleted < batch:
            return total
