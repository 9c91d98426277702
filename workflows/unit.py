"""The unit of work every workflow step is handed: typed repositories and the effect verbs.

One `Unit` is one database transaction. Its repositories (incidents, timeline, pages, deadlines,
outbox, follow-ups, intake) all read and write inside it; its verbs (`post`, `invite`,
`create_channel`, `send_direct`, `schedule`, `owe` ...) record what the step owes the outside
world. `Context.unit()` writes those effects as outbox rows before the transaction commits, so a
step's state and its effects are durable together or not at all; the dispatcher performs them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import uuid4

from workflows.followup.model import FollowUpRecords
from workflows.intake.signals import IntakeTransaction
from workflows.model import Deadline, Incident
from workflows.outbox import Effect, EffectKind, message_payload
from workflows.ports import (
    Deadlines,
    Incidents,
    Message,
    Outbox,
    Pages,
    Posts,
    Subscriptions,
    Timeline,
    Transaction,
)

if TYPE_CHECKING:
    from workflows.insight_model import InsightRecords

# What shows an incident, refreshed together when it changes.
_SHOWN = (EffectKind.TOPIC, EffectKind.CARD, EffectKind.ANNOUNCE, EffectKind.HOME)


class Unit:
    """A transaction's repositories plus the effects and wake-ups it owes."""

    def __init__(self, tx: Transaction) -> None:
        self._tx = tx
        self.incidents: Incidents = tx
        self.timeline: Timeline = tx
        self.pages: Pages = tx
        self.deadlines: Deadlines = tx
        self.outbox: Outbox = tx
        self.posts: Posts = tx
        self.subscriptions: Subscriptions = tx
        self.owed: list[Effect] = []
        self.committed: list[Callable[[], None]] = []  # run once the transaction committed
        self.wakeups: list[datetime] = []
        self._followups: FollowUpRecords | None = None
        self._intake: IntakeTransaction | None = None

    @property
    def followups(self) -> FollowUpRecords:
        """Postmortems, action items and reminder marks, in this transaction."""
        if self._followups is None:
            self._followups = self._tx.followups()
        return self._followups

    @property
    def insights(self) -> InsightRecords:
        """The reads behind the insights (workflows/insights.py), in this transaction."""
        return self._tx.insights()

    @property
    def intake(self) -> IntakeTransaction:
        """Alerts, alert groups and received signals, in this transaction."""
        if self._intake is None:
            self._intake = self._tx.intake()
        return self._intake

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """What is done inside, effects included, is undone alone if it raises."""
        owed, wakeups, committed = len(self.owed), len(self.wakeups), len(self.committed)
        try:
            with self._tx.savepoint():
                yield
        except BaseException:
            del self.owed[owed:], self.wakeups[wakeups:], self.committed[committed:]
            raise

    def after_commit(self, then: Callable[[], None]) -> None:
        """Run `then` once this unit of work is committed (never if it rolls back): what
        reports a fact (a log line, a measurement) waits for the fact."""
        self.committed.append(then)

    # effect verbs -------------------------------------------------------------------------
    def owe(self, effect: Effect) -> None:
        """Record an effect: written as an outbox row with this transaction."""
        self.owed.append(effect)

    def schedule(self, deadline: Deadline) -> None:
        """Store a deadline and, once committed, make sure the process wakes for it."""
        self.deadlines.schedule(deadline)
        self.wakeups.append(deadline.due_at)

    def post(self, incident: Incident, message: Message) -> None:
        """Post to the incident's channel, or to its team's channel if it has none (decided when
        the post is performed, after the channel was created if it is being created)."""
        assert incident.id is not None
        self.owe(Effect(EffectKind.POST, incident.id, {"message": message_payload(message)}))

    def post_to(
        self, *, channel: str, message: Message, incident_id: int | None, key: str | None = None
    ) -> None:
        """Post to a named channel. `key`: written once, however often the step is repeated."""
        self.owe(Effect(EffectKind.POST, incident_id,
                        {"channel": channel, "message": message_payload(message)}, key=key))

    def send_direct(
        self, *, person: str, message: Message, incident_id: int | None, key: str | None = None
    ) -> None:
        """A direct message to one person (their chat id)."""
        self.owe(Effect(EffectKind.DIRECT, incident_id,
                        {"person": person, "message": message_payload(message)}, key=key))

    def edit_posted(self, *, key: str, message: Message) -> None:
        """Replace the message an earlier post effect (written with `key`) posted, once it has;
        on a chat that cannot edit, nothing changes."""
        self.owe(Effect(EffectKind.EDIT, None, {"of": key, "message": message_payload(message)},
                        key=f"edit:{key}:{uuid4().hex}"))

    def set_user_group(self, *, group: str, people: list[str], key: str | None = None) -> None:
        """Make `people` the members of a chat user group (where the chat has them)."""
        self.owe(Effect(EffectKind.USER_GROUP, None, {"group": group, "people": list(people)},
                        key=key))

    def create_channel(self, incident: Incident) -> None:
        """Create the incident's channel; what is posted after it goes there."""
        assert incident.id is not None
        self.owe(Effect(EffectKind.CREATE_CHANNEL, incident.id, {},
                        key=f"create_channel:{incident.id}"))

    def invite(self, incident: Incident, people: list[str]) -> None:
        """Invite people to the incident's channel (when it has one by then)."""
        if incident.id is not None and people:
            self.owe(Effect(EffectKind.INVITE, incident.id, {"people": list(people)}))

    def refresh(self, incident: Incident) -> None:
        """The incident changed: bring what shows it up to date — its channel's topic, its live
        card, its announcement, the App Home of its people. Each is rendered when it is
        performed, from the incident as it is then, so one of each per unit of work is enough."""
        assert incident.id is not None
        for kind in _SHOWN:
            if not any(e.kind == kind and e.incident_id == incident.id for e in self.owed):
                self.owe(Effect(kind, incident.id, {}))
