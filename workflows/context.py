"""What every workflow is handed: the catalog, the store and the ports."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from uuid import uuid4

from workflows.catalog import Catalog, Team
from workflows.model import Deadline, Incident, TimelineEvent
from workflows.outbox import LEASE_SECONDS, Effect, EffectKind, message_payload
from workflows.ports import (
    ChatPort,
    Clock,
    Message,
    PagerPort,
    ScheduleStore,
    Store,
    TicketPort,
    Timers,
    Transaction,
)
from workflows.signals import IntakeStore

log = logging.getLogger(__name__)


class Owed(list[Effect]):
    """The effects a unit of work owes, written as outbox rows before it commits, plus the
    wake-ups (for deadlines it stored) to ask for once it committed."""

    def __init__(self) -> None:
        super().__init__()
        self.wakeups: list[datetime] = []


@dataclass
class Context:
    catalog: Catalog
    store: Store
    chat: ChatPort
    clock: Clock
    timers: Timers
    pagers: dict[str, PagerPort] = field(default_factory=dict)  # channel name -> pager
    tickets: TicketPort | None = None
    intake: IntakeStore | None = None  # alerts, groups, received signals (workflows.intake)
    schedules: ScheduleStore | None = None  # versions, swaps, handoffs (schedule_changes)
    public_url: str | None = None
    # Called once a unit of work committed effects: wakes the dispatcher (`serve`). None: the
    # committing thread performs them itself before it returns (console, demo, tests).
    dispatch: Callable[[], None] | None = None
    # Where a team's notices go on this chat platform (the catalog names a channel per platform).
    team_channel: Callable[[Team], str | None] = lambda team: team.slack_channel
    # How long a claimed effect is held, by kind (workflows/outbox.py, FIREBELL_PAGE_LEASE_SECONDS).
    leases: dict[str, float] = field(default_factory=lambda: dict(LEASE_SECONDS))
    _draining: threading.local = field(default_factory=threading.local, repr=False)

    def now(self) -> datetime:
        return self.clock.now()

    @contextmanager
    def unit(self) -> Iterator[tuple[Transaction, Owed]]:
        """One transaction and the effects it owes, committed together.

        The effects (posts, pages, channels, tickets) become outbox rows in this transaction:
        if it commits, they will be performed, even across a crash; if it rolls back, none is.
        """
        owed = Owed()
        with self.store.transaction() as tx:
            yield tx, owed
            self.write_effects(tx, owed)
        for when in owed.wakeups:
            self.timers.wake_at(when)
        if owed:
            self.effects_committed()

    def write_effects(self, tx: Transaction, effects: list[Effect]) -> None:
        """Write effects as outbox rows in `tx` (a key already written is skipped)."""
        now = self.now()
        for effect in effects:
            tx.add_effect(effect, key=effect.key or f"{effect.kind.value}:{uuid4().hex}", now=now)
            if effect.not_before is not None and effect.not_before > now:
                self.timers.wake_at(effect.not_before)

    def effects_committed(self) -> None:
        """Effects were committed: hand them to the dispatcher, or perform them here and now."""
        if self.dispatch is not None:
            self.dispatch()
            return
        if getattr(self._draining, "active", False):
            return  # an outer drain on this thread picks them up
        from workflows.dispatch import drain  # the dispatcher needs the context: no cycle at import

        self._draining.active = True
        try:
            drain(self, owner=f"inline-{threading.get_ident()}")
        finally:
            self._draining.active = False

    def schedule(self, tx: Transaction, effects: list[Effect], deadline: Deadline) -> None:
        """Store a deadline and, once committed, make sure the process wakes for it."""
        tx.schedule(deadline)
        if isinstance(effects, Owed):
            effects.wakeups.append(deadline.due_at)
        else:
            self.timers.wake_at(deadline.due_at)

    def post(self, effects: list[Effect], incident: Incident, message: Message) -> None:
        """Post to the incident's channel, or to its team's channel if it has none (decided when
        the post is performed, after the channel was created if it is being created)."""
        assert incident.id is not None
        effects.append(Effect(EffectKind.POST, incident.id, {"message": message_payload(message)}))

    def post_to(
        self, effects: list[Effect], *, channel: str, message: Message, incident_id: int | None
    ) -> None:
        """Post to a named channel."""
        effects.append(Effect(EffectKind.POST, incident_id,
                              {"channel": channel, "message": message_payload(message)}))

    def send_direct(
        self, effects: list[Effect], *, person: str, message: Message, incident_id: int | None
    ) -> None:
        """A direct message to one person (their chat id)."""
        effects.append(Effect(EffectKind.DIRECT, incident_id,
                              {"person": person, "message": message_payload(message)}))

    def create_channel(self, effects: list[Effect], incident: Incident) -> None:
        """Create the incident's channel; what is posted after it goes there."""
        assert incident.id is not None
        effects.append(Effect(EffectKind.CREATE_CHANNEL, incident.id, {},
                              key=f"create_channel:{incident.id}"))

    def invite(self, effects: list[Effect], incident: Incident, people: list[str]) -> None:
        """Invite people to the incident's channel (when it has one by then)."""
        if incident.id is not None and people:
            effects.append(Effect(EffectKind.INVITE, incident.id, {"people": list(people)}))

    def refresh_topic(self, effects: list[Effect], incident: Incident) -> None:
        """Show priority, stage, state and commander in the channel topic."""
        assert incident.id is not None
        effects.append(Effect(EffectKind.TOPIC, incident.id, {}))

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
    tx: Transaction,
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
    return tx.append_event(
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
