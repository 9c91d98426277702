"""A world for the follow-up tests: the incident loop on a store, a fake clock, and a chat that
can read channel history (in pages) and take file uploads."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from storage.schedule_store import SqlScheduleStore
from storage.store import SqlStore
from tests.fakes import RecordingChat, RecordingPager
from workflows.catalog.load import parse_catalog
from workflows.clock import FakeClock, ManualTimers
from workflows.context import Context
from workflows.deadlines import run_due
from workflows.dispatch import inline
from workflows.incident.declare import DeclareRequest, declare
from workflows.model import Incident, TimelineEvent
from workflows.ports import ChatMessage, HistoryPage

CATALOG = """
timezone: Europe/Berlin
business_hours: {days: Mon-Fri, hours: "09:00-17:00", holidays: DE}
people:
  - {id: alice, name: Alice Doe, slack: UALICE}
  - {id: bob, name: Bob Brandt, slack: UBOB}
  - {id: dave, name: Dave Dent, slack: UDAVE}
teams:
  - {id: payments, name: Payments, slack_channel: CPAY, escalation_policy: pay}
services:
  - {id: checkout, name: Checkout API, team: payments, runbook: "https://runbooks.example/checkout",
     dashboards: ["https://grafana.example/d/checkout"]}
schedules:
  - id: pay-primary
    team: payments
    rotation: {every: 1w, handoff: "Mon 09:00", start: "2026-01-05", members: [alice]}
escalation_policies:
  - id: pay
    steps:
      - {notify: ["schedule:pay-primary"], ack_timeout: 5m}
postmortem: {cause_tags: [db-pool, bad-deploy]}
"""


@dataclass
class HistoryChat(RecordingChat):
    """RecordingChat plus `ChannelHistory` (pages of `page_size`) and `FileUpload`."""

    messages: dict[str, list[ChatMessage]] = field(default_factory=dict)
    page_size: int = 2
    history_calls: list[str | None] = field(default_factory=list)
    uploads: list[tuple[str, str, str]] = field(default_factory=list)  # channel, filename, text

    def history(self, *, channel: str, cursor: str | None, oldest: datetime | None) -> HistoryPage:
        self.history_calls.append(cursor)
        # Newest first, like Slack's conversations.history.
        found = sorted((m for m in self.messages.get(channel, []) if oldest is None or m.at >= oldest),
                       key=lambda m: m.at, reverse=True)
        start = int(cursor or 0)
        page = found[start : start + self.page_size]
        following = start + self.page_size
        return HistoryPage(tuple(page), str(following) if following < len(found) else None)

    def upload(self, *, channel: str, filename: str, title: str, content: str) -> str:
        self.uploads.append((channel, filename, content))
        return f"F{len(self.uploads)}"


class World:
    def __init__(self, store: SqlStore, start: datetime, *, catalog: str = CATALOG,
                 chat: RecordingChat | None = None) -> None:
        self.clock = FakeClock(start)
        self.chat = chat if chat is not None else HistoryChat()
        self.pager = RecordingPager(channels=frozenset({"chat", "sms", "voice"}))
        self.ctx = Context(
            dispatch=inline,
            catalog=parse_catalog(catalog), store=store, chat=self.chat, clock=self.clock,
            timers=ManualTimers(), pagers={"chat": self.pager, "sms": self.pager,
                                           "voice": self.pager},
            schedules=SqlScheduleStore(store.url, engine=store.engine),
        )

    def advance(self, **delta: float) -> int:
        self.clock.advance(timedelta(**delta))
        return run_due(self.ctx)

    def declare(self, title: str = "Checkout is down", **overrides: object) -> Incident:
        values: dict[str, object] = dict(title=title, service="checkout", severity="critical",
                                         urgency="high", reporter="alice")
        values.update(overrides)
        return declare(self.ctx, DeclareRequest(**values))  # type: ignore[arg-type]

    def incident(self, incident_id: int) -> Incident:
        with self.ctx.store.transaction() as tx:
            return tx.get_incident(incident_id)

    def events(self, incident_id: int, kind: str | None = None) -> list[TimelineEvent]:
        with self.ctx.store.transaction() as tx:
            return [e for e in tx.events(incident_id) if kind is None or e.kind == kind]

    def message(self, channel: str, ts: str, text: str, *, user: str = "UBOB",
                edited: bool = False) -> ChatMessage:
        return ChatMessage(message_id=f"{channel}:{ts}", author=user, text=text,
                           at=datetime.fromtimestamp(float(ts), tz=self.clock.now().tzinfo),
                           edited=edited)
