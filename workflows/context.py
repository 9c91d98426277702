"""What every workflow is handed: the catalog, the store and the ports."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from workflows.catalog import Catalog, Team
from workflows.clock_rules import clock_lines
from workflows.model import Deadline, Incident, TimelineEvent
from workflows.ports import (
    ChatPort,
    Clock,
    FirebellError,
    Message,
    PagerPort,
    ScheduleStore,
    Store,
    TicketPort,
    Timers,
    Transaction,
)
from workflows.render import render
from workflows.signals import IntakeStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Effect:
    """Something that leaves the process (a chat post, a page) once the transaction committed."""

    incident_id: int
    what: str
    run: Callable[[], object]
    # Independent of the other effects (a page to one person): may run beside them. Chat posts
    # are not: a channel must read in the order things happened.
    independent: bool = False


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
    # Runs independent effects (pages) side by side; None runs everything in order, in place.
    deliveries: Executor | None = None
    # Where a team's notices go on this chat platform (the catalog names a channel per platform).
    team_channel: Callable[[Team], str | None] = lambda team: team.slack_channel

    def now(self) -> datetime:
        return self.clock.now()

    @contextmanager
    def unit(
        self, *, defer_to: list[Effect] | None = None
    ) -> Iterator[tuple[Transaction, list[Effect]]]:
        """A transaction plus a list of effects (chat posts, pages) run after it commits.

        Nothing leaves the process before the state that explains it is durable. With
        `defer_to`, the effects are handed to the caller to run later (after this commit, too).
        """
        effects: list[Effect] = []
        with self.store.transaction() as tx:
            yield tx, effects
        if defer_to is not None:
            defer_to.extend(effects)
        else:
            self.run_effects(effects)

    def schedule(self, tx: Transaction, effects: list[Effect], deadline: Deadline) -> None:
        """Store a deadline and, once committed, make sure the process wakes for it."""
        tx.schedule(deadline)
        effects.append(
            Effect(deadline.incident_id, "wake-up", lambda: self.timers.wake_at(deadline.due_at))
        )

    def post(self, effects: list[Effect], incident: Incident, message: Message) -> None:
        """Post to the incident's channel (after commit), or to its team's channel if it has none."""
        assert incident.id is not None
        channel = incident.channel or self.team_channel(self.catalog.team(incident.team))
        if channel:
            effects.append(
                Effect(
                    incident.id,
                    "post to channel",
                    lambda: self.chat.post(channel=channel, message=message),
                )
            )

    def invite(self, effects: list[Effect], incident: Incident, people: list[str]) -> None:
        """Invite people to the incident's channel, after commit."""
        if incident.channel and incident.id is not None and people:
            channel, invited = incident.channel, list(people)
            effects.append(
                Effect(incident.id, "invite", lambda: self.chat.invite(channel=channel, people=invited))
            )

    def refresh_topic(self, effects: list[Effect], incident: Incident) -> None:
        """Show priority, stage, state and commander in the channel topic."""
        if not incident.channel:
            return
        assert incident.id is not None
        channel = incident.channel
        clocks = [
            line.replace(":stopwatch: ", "")
            for line in clock_lines(self.catalog, incident, now=self.now())
        ]
        topic = render(
            "topic", incident=incident, commander=self.display(incident.commander), clocks=clocks
        )
        effects.append(
            Effect(incident.id, "set topic", lambda: self.chat.set_topic(channel=channel, topic=topic))
        )

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

    def run_effects(self, effects: list[Effect]) -> None:
        """Run effects: in order, and the independent ones side by side when there is a pool.

        Returns when all have run, so a caller knows its pages went out.
        """
        running: list[Future[None]] = []
        for effect in effects:
            if effect.independent and self.deliveries is not None:
                running.append(self.deliveries.submit(self._run_effect, effect))
            else:
                self._run_effect(effect)
        for future in running:
            future.result()

    def _run_effect(self, effect: Effect) -> None:
        try:
            effect.run()
        except FirebellError as error:
            # Not swallowed: the failure goes on the incident's record, where people look.
            log.warning("%s failed for incident %s: %s", effect.what, effect.incident_id, error)
            with self.store.transaction() as tx:
                tx.append_event(
                    TimelineEvent(
                        incident_id=effect.incident_id,
                        at=self.now(),
                        kind="delivery_failed",
                        text=f"{effect.what} failed: {error}",
                    )
                )


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
