"""What every workflow is handed: the catalog, the store, the ports, and units of work."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import uuid4

from workflows.batching import GroupCommit
from workflows.catalog.model import Catalog, Team
from workflows.catalog.sections import Announcements
from workflows.model import Incident, TimelineEvent
from workflows.observe import Meter, NoMeter
from workflows.outbox import LEASE_SECONDS
from workflows.ports import (
    ChatPort,
    Clock,
    Mailer,
    PagerPort,
    ScheduleStore,
    StatusPagePort,
    Store,
    TicketPort,
    Timers,
)
from workflows.unit import Unit

log = logging.getLogger(__name__)


@dataclass
class Context:
    catalog: Catalog
    store: Store
    chat: ChatPort
    clock: Clock
    timers: Timers
    schedules: ScheduleStore  # versions, swaps, handoffs (schedule_changes)
    pagers: dict[str, PagerPort] = field(default_factory=dict)  # channel name -> pager
    tickets: TicketPort | None = None
    mailer: Mailer | None = None  # SMTP: stakeholder updates and notices by email
    status_page: StatusPagePort | None = None  # a hosted status page beside Firebell's own
    meter: Meter = field(default_factory=NoMeter)  # measurements (Prometheus in `serve`)
    public_url: str | None = None
    # Called once a unit of work committed effects: wakes the dispatcher (`serve`), or performs
    # them in the committing thread before it returns (`workflows.dispatch.inline`: console,
    # demo, tests). Given by whoever builds the context, so the context needs no performers.
    dispatch: Callable[[Context], None] | None = None
    # Where a team's notices (or the announcements) go on this chat platform (the catalog names
    # a channel per platform).
    team_channel: Callable[[Team | Announcements], str | None] = lambda team: team.slack_channel
    # How long a claimed effect is held, by kind (workflows/outbox.py, FIREBELL_PAGE_LEASE_SECONDS).
    leases: dict[str, float] = field(default_factory=lambda: dict(LEASE_SECONDS))
    # Intake batches that arrive together share a transaction (workflows/intake/intake.py).
    intake_batches: GroupCommit[Any, Any] = field(default_factory=GroupCommit)
    # When `run_due` last swept the follow-up (workflows/deadlines.py: at most every 10 s).
    swept_at: datetime | None = None

    def now(self) -> datetime:
        return self.clock.now()

    @contextmanager
    def reading(self) -> Iterator[Unit]:
        """A unit of work that only reads: it owes nothing and waits for no writer."""
        with self.store.transaction(reading=True) as tx:
            yield Unit(tx)

    @contextmanager
    def unit(self) -> Iterator[Unit]:
        """One unit of work: a transaction's repositories and the effects it owes, committed
        together. The effects (posts, pages, channels, tickets) become outbox rows in this
        transaction: if it commits, they will be performed, even across a crash; if it rolls
        back, none is."""
        with self.store.transaction() as tx:
            uow = Unit(tx)
            yield uow
            self._write_effects(uow)
        for when in uow.wakeups:
            self.timers.wake_at(when)
        for then in uow.committed:
            then()
        if uow.owed:
            self.effects_committed()

    def _write_effects(self, uow: Unit) -> None:
        now = self.now()
        uow.outbox.add_effects(
            [(e.key or f"{e.kind.value}:{uuid4().hex}", e) for e in uow.owed], now=now)
        uow.wakeups += [e.not_before for e in uow.owed if e.not_before and e.not_before > now]

    def effects_committed(self) -> None:
        """Effects were committed: hand them to the dispatcher, or perform them here and now."""
        if self.dispatch is None:
            raise RuntimeError("Context.dispatch is unset: give it workflows.dispatch.inline or "
                               "a dispatcher's wake-up")
        self.dispatch(self)

    def knows(self, person: str) -> bool:
        try:
            self.catalog.person(person)
        except LookupError:
            return False
        return True

    def display(self, person: str | None) -> str | None:
        """A person's name for messages; a reference not in the catalog is shown as it is."""
        if person is None:
            return None
        try:
            return self.catalog.person(person).name
        except LookupError:
            return person


def record(
    uow: Unit,
    incident: Incident,
    *,
    kind: str,
    at: datetime,
    text: str = "",
    actor: str | None = None,
    data: dict[str, object] | None = None,
    source_id: str | None = None,
) -> bool:
    """Append one event to an incident's timeline."""
    assert incident.id is not None
    return uow.timeline.append_event(
        TimelineEvent(
            incident_id=incident.id,
            at=at,
            kind=kind,
            text=text,
            actor=actor,
            data=dict(data or {}),
            source_id=source_id,
        )
    )
