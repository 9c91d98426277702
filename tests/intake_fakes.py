"""Fakes and a small world for intake tests: recording tickets, the intake store on both databases."""

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
from workflows.intake.intake import Outcome, intake
from workflows.intake.signals import Action, Signal
from workflows.model import Incident

CATALOG = """
timezone: Europe/Berlin
people:
  - {id: alice, name: Alice, slack: UALICE}
  - {id: bob, name: Bob, slack: UBOB}
  - {id: erin, name: Erin, slack: UERIN}
teams:
  - {id: payments, name: Payments, slack_channel: CPAY, escalation_policy: pay}
services:
  - {id: checkout, name: Checkout API, team: payments, runbook: "https://runbooks.example/checkout",
     dashboards: ["https://grafana.example/d/checkout"], match: {service: checkout}}
  - {id: ledger, name: Ledger, team: payments, match: {service: ledger}}
schedules:
  - id: pay-primary
    team: payments
    rotation: {every: 1w, handoff: "Mon 09:00", start: "2026-01-05", members: [alice]}
escalation_policies:
  - id: pay
    steps:
      - {notify: ["schedule:pay-primary"], ack_timeout: 5m}
      - {notify: ["person:bob"], ack_timeout: 5m}
priorities:
  response:
    P1: {page: true, ack_within: 5m, channels: [chat], update_every: 15m, monitor_for: 1h}
    P2: {page: true, ack_within: 15m, channels: [chat], update_every: 20m, monitor_for: 30m}
    P3: {page: false, ack_within: 8h, channels: [chat]}
    P4: {page: false, ack_within: 5d, channels: [ticket]}
intake:
  grouping_window: 10m
  owners: [erin]
  owners_channel: COWNERS
  flapping: {count: 3, within: 1h}
"""


@dataclass
class RecordingTickets:
    opened: list[tuple[str, int, str]] = field(default_factory=list)  # (key, incident id, body)
    updates: list[tuple[str, str, str]] = field(default_factory=list)  # (key, state, comment)

    def open_ticket(self, *, incident: Incident, body: str) -> str:
        assert incident.id is not None
        key = f"OPS-{len(self.opened) + 1}"
        self.opened.append((key, incident.id, body))
        return key

    def update_ticket(self, *, ticket: str, incident: Incident, comment: str) -> None:
        self.updates.append((ticket, incident.state.value, comment))


class IntakeWorld:
    def __init__(self, store: SqlStore, start: datetime, *, catalog: str = CATALOG) -> None:
        self.clock = FakeClock(start)
        self.chat = RecordingChat()
        self.pager = RecordingPager(channels=frozenset({"chat"}))
        self.tickets = RecordingTickets()
        self.ctx = Context(
            dispatch=inline,
            catalog=parse_catalog(catalog), store=store, chat=self.chat, clock=self.clock,
            timers=ManualTimers(), pagers={"chat": self.pager}, tickets=self.tickets,
            schedules=SqlScheduleStore(store.url, engine=store.engine),
        )

    def advance(self, **delta: float) -> int:
        self.clock.advance(timedelta(**delta))
        return run_due(self.ctx)

    def fire(self, key: str = "fp1", *, action: Action = Action.TRIGGER, **labels: str) -> Outcome:
        values = {"alertname": "HighErrorRate", "service": "checkout", "severity": "critical"}
        values.update(labels)
        signal = Signal(source="alertmanager", integration="default", action=action,
                        dedup_key=key, labels=values, summary=f"{values['alertname']} on {key}",
                        links=(("Alert", "https://prometheus.example/graph?g0"),))
        return intake(self.ctx, [signal])[0]

    def incidents(self) -> list[Incident]:
        with self.ctx.store.transaction() as tx:
            return tx.list_incidents(open_only=False, limit=1000)

    def kinds(self, incident_id: int) -> list[str]:
        with self.ctx.store.transaction() as tx:
            return [event.kind for event in tx.events(incident_id)]
