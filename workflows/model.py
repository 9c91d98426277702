"""Domain records of the incident process. Plain dataclasses: storage maps them to tables."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from workflows.errors import InvalidRequest


class State(StrEnum):
    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    MITIGATED = "mitigated"
    RESOLVED = "resolved"  # recovery watch running; closes unless reopened
    CLOSED = "closed"


OPEN_STATES = (State.TRIGGERED, State.ACKNOWLEDGED, State.MITIGATED)


class Stage(StrEnum):
    INVESTIGATING = "Investigating"
    IDENTIFIED = "Identified"
    MONITORING = "Monitoring"
    RESOLVED = "Resolved"

    @classmethod
    def parse(cls, text: str) -> Stage:
        for stage in cls:
            if stage.value.lower() == text.strip().lower():
                return stage
        names = ", ".join(s.value for s in cls)
        raise InvalidRequest(f"unknown stage '{text}': use one of {names}")


ROLES = {
    "commander": "Incident commander",
    "comms": "Communications lead",
    "customer": "Customer escalation manager",
    "scribe": "Scribe",
}


@dataclass
class EscalationStepSnapshot:
    """One step of the policy as it was when the incident started."""

    targets: list[str]
    ack_timeout_seconds: int


@dataclass
class Incident:
    title: str
    service: str
    team: str
    severity: str
    urgency: str
    environment: str
    priority: str
    declared_at: datetime
    declared_by: str | None = None
    description: str = ""
    security: bool = False
    drill: bool = False
    flags: list[str] = field(default_factory=list)  # security, privacy, compliance
    state: State = State.TRIGGERED
    stage: Stage = Stage.INVESTIGATING
    channel: str | None = None
    roles: dict[str, str] = field(default_factory=dict)
    policy: list[EscalationStepSnapshot] = field(default_factory=list)
    policy_repeat: int = 0
    escalation_step: int = 0
    escalation_round: int = 0
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    mitigated_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    last_update_at: datetime | None = None
    dedup_key: str | None = None
    ticket: str | None = None
    # The chat platform it was declared from ("slack", "teams"); None: an alert's or a report's,
    # whose channel goes to its team's platform. Where its channel is made when both are on.
    platform: str | None = None
    bridge: str | None = None  # the conference bridge's URL (catalog `bridge`, `/incident bridge`)
    id: int | None = None

    @property
    def ref(self) -> str:
        return f"INC-{self.id}"

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def commander(self) -> str | None:
        return self.roles.get("commander")


DIRECT = -1  # the `step` of a page outside the escalation policy (manual, group, clock)


class PageStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    ACKNOWLEDGED = "acknowledged"
    CANCELLED = "cancelled"


@dataclass
class Page:
    """One attempt to reach one person through one channel."""

    incident_id: int
    person: str
    channel: str
    created_at: datetime
    step: int = 0
    round: int = 0
    status: PageStatus = PageStatus.QUEUED
    send_at: datetime | None = None  # a person's notification rules may delay a channel
    sent_at: datetime | None = None
    ref: str | None = None
    error: str | None = None
    provider_status: str | None = None  # delivery status reported back (Twilio callbacks)
    id: int | None = None

    def due(self, now: datetime) -> bool:
        return self.send_at is None or self.send_at <= now


@dataclass(frozen=True)
class AckFacts:
    """What a report needs of an incident to credit an acknowledgement (no full record)."""

    drill: bool
    acknowledged_by: str | None
    acknowledged_at: datetime | None


@dataclass
class TimelineEvent:
    incident_id: int
    at: datetime
    kind: str
    text: str = ""
    actor: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    source_id: str | None = None  # platform id of the source (message ts): a retried event counts once
    id: int | None = None


class DeadlineKind(StrEnum):
    ESCALATE = "escalate"  # the ack timeout of the current step ran out
    UPDATE_REMINDER = "update_reminder"  # no status update within update_every
    RECOVERY_CLOSE = "recovery_close"  # recovery watch over: close
    ACK_DUE = "ack_due"  # a queued (P3/P4) signal was not acknowledged within its business time
    NOTIFICATION_CLOCK = "notification_clock"  # a regulator/customer notice deadline approaches
    MAINTENANCE_END = "maintenance_end"  # pages held back by a maintenance window may go out
    COVERAGE_START = "coverage_start"  # paging queued outside coverage hours may go out


@dataclass
class Deadline:
    incident_id: int
    kind: DeadlineKind
    due_at: datetime
    data: dict[str, Any] = field(default_factory=dict)
    done: bool = False
    id: int | None = None


def channel_name(incident: Incident) -> str:
    """`inc-<yyyymmdd>-<number>-<slug>`, within Slack's 80 characters and its alphabet.

    The incident's number makes the name its own: a retried creation finds the channel an
    earlier attempt made instead of making a second one.
    """
    slug = re.sub(r"[^a-z0-9]+", "-", incident.title.lower()).strip("-")[:40].strip("-")
    prefix = "drill" if incident.drill else "inc"
    return f"{prefix}-{incident.declared_at:%Y%m%d}-{incident.id}" + (f"-{slug}" if slug else "")
