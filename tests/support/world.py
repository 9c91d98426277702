"""The one `World` of the workflow tests: the workflows on a real store (both databases), a fake
clock, a catalog given as text, and recording chat, pager and tickets; effects run inline.

Pick a preset (`for_paging`, `for_intake`, `for_followups`) or build one with the ports a test
needs. Assertions read the recorders (`world.chat.posts`, `world.pager.sent`, ...) and the store
(`kinds`, `pages`, `events`, `incidents`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.commands import Commands, Invocation
from storage.schedule_store import SqlScheduleStore
from storage.store import SqlStore
from tests.support.catalogs import FOLLOWUPS, INTAKE, PAGING
from tests.support.fakes import HistoryChat, RecordingChat, RecordingPager, RecordingTickets
from workflows.catalog.load import parse_catalog
from workflows.clock import FakeClock, ManualTimers
from workflows.context import Context
from workflows.deadlines import run_due
from workflows.dispatch import inline
from workflows.incident.declare import DeclareRequest, declare
from workflows.intake.intake import Outcome, intake
from workflows.intake.signals import Action, Signal
from workflows.model import Incident, PageStatus, TimelineEvent
from workflows.oncall.schedules import on_call
from workflows.ports import ChatMessage, TicketPort


class World:
    """The workflows on `store` from `start`, with recording ports and a clock the test moves."""

    def __init__(
        self, store: SqlStore, start: datetime, *, catalog: str,
        channels: tuple[str, ...] = ("chat", "sms"), chat: RecordingChat | None = None,
        tickets: TicketPort | None = None, reporter: str | None = "alice",
    ) -> None:
        self.clock = FakeClock(start)
        self.chat = chat if chat is not None else RecordingChat()
        self.pager = RecordingPager(channels=frozenset(channels))
        self.tickets = tickets
        self.reporter = reporter  # who `declare` declares as, unless told otherwise
        self.ctx = Context(
            dispatch=inline,
            catalog=parse_catalog(catalog), store=store, chat=self.chat, clock=self.clock,
            timers=ManualTimers(), pagers={channel: self.pager for channel in channels},
            tickets=tickets, schedules=SqlScheduleStore(store.url, engine=store.engine),
        )
        self._commands: Commands | None = None

    @classmethod
    def for_paging(cls, store: SqlStore, start: datetime, *, catalog: str = PAGING,
                   channels: tuple[str, ...] = ("chat", "sms")) -> World:
        """The incident loop: the PAGING catalog, pagers on `channels`, frank declares."""
        return cls(store, start, catalog=catalog, channels=channels, reporter="frank")

    @classmethod
    def for_intake(cls, store: SqlStore, start: datetime, *, catalog: str = INTAKE) -> World:
        """Signals in: the INTAKE catalog, a chat pager, recording tickets."""
        return cls(store, start, catalog=catalog, channels=("chat",), tickets=RecordingTickets())

    @classmethod
    def for_followups(cls, store: SqlStore, start: datetime, *, catalog: str = FOLLOWUPS,
                      chat: RecordingChat | None = None) -> World:
        """Follow-ups: the FOLLOWUPS catalog, a chat with history and uploads, every pager."""
        return cls(store, start, catalog=catalog, channels=("chat", "sms", "voice"),
                   chat=chat if chat is not None else HistoryChat())

    # Moving time and acting ------------------------------------------------------------------
    def advance(self, **delta: float) -> int:
        """Move the clock by `timedelta(**delta)` and run what fell due; how many ran."""
        self.clock.advance(timedelta(**delta))
        return run_due(self.ctx)

    def declare(self, title: str = "Checkout is down", **overrides: object) -> Incident:
        values: dict[str, object] = dict(title=title, service="checkout", severity="critical",
                                         urgency="high", reporter=self.reporter)
        values.update(overrides)
        return declare(self.ctx, DeclareRequest(**values))  # type: ignore[arg-type]

    def declare_id(self, **overrides: object) -> int:
        """`declare`, and only the new incident's id."""
        incident = self.declare(**overrides)  # type: ignore[arg-type]
        assert incident.id is not None
        return incident.id

    def fire(self, key: str = "fp1", *, action: Action = Action.TRIGGER, **labels: str) -> Outcome:
        """An Alertmanager signal for `key` (checkout, critical unless `labels` say otherwise)."""
        values = {"alertname": "HighErrorRate", "service": "checkout", "severity": "critical"}
        values.update(labels)
        signal = Signal(source="alertmanager", integration="default", action=action,
                        dedup_key=key, labels=values, summary=f"{values['alertname']} on {key}",
                        links=(("Alert", "https://prometheus.example/graph?g0"),))
        return intake(self.ctx, [signal])[0]

    def say(self, words: str, *, user: str = "UALICE") -> str:
        """A slash command as typed (`"/oncall cover 2h"`), through the words every chat
        front-end shares; the reply's text."""
        command, _, text = words.removeprefix("/").partition(" ")
        if self._commands is None:
            self._commands = Commands(self.ctx, forms=False)
        return self._commands.handle(Invocation(command=command, text=text, user=user)).text

    # Reading back ----------------------------------------------------------------------------
    def incident(self, incident_id: int) -> Incident:
        with self.ctx.store.transaction() as tx:
            return tx.get_incident(incident_id)

    def incidents(self) -> list[Incident]:
        with self.ctx.store.transaction() as tx:
            return tx.list_incidents(open_only=False, limit=1000)

    def kinds(self, incident_id: int) -> list[str]:
        with self.ctx.store.transaction() as tx:
            return [event.kind for event in tx.events(incident_id)]

    def events(self, incident_id: int, kind: str | None = None) -> list[TimelineEvent]:
        with self.ctx.store.transaction() as tx:
            return [e for e in tx.events(incident_id) if kind is None or e.kind == kind]

    def pages(self, incident_id: int) -> list[tuple[str, str, PageStatus]]:
        with self.ctx.store.transaction() as tx:
            return [(p.person, p.channel, p.status) for p in tx.pages(incident_id)]

    def on_call(self, schedule_id: str, *, at: datetime | None = None) -> list[str]:
        return on_call(self.ctx.catalog, schedule_id=schedule_id, at=at or self.clock.now())

    def message(self, channel: str, ts: str, text: str, *, user: str = "UBOB",
                edited: bool = False) -> ChatMessage:
        """A chat message as the history would return it (`ts` in Slack's seconds)."""
        return ChatMessage(message_id=f"{channel}:{ts}", author=user, text=text,
                           at=datetime.fromtimestamp(float(ts), tz=self.clock.now().tzinfo),
                           edited=edited)
