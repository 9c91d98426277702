"""Records of what follows an incident: its postmortem and its action items.

The SQL store keeps them in the same transaction as the timeline (`storage/postmortem_store.py`);
a transaction offers them through the small `HasFollowUps` capability, checked at run time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Protocol

from workflows.model import TimelineEvent


class PostmortemState(StrEnum):
    PENDING = "pending"  # required (or asked for), nothing drafted yet
    DRAFT = "draft"
    IN_REVIEW = "in_review"
    PUBLISHED = "published"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


class ActionState(StrEnum):
    OPEN = "open"
    DONE = "done"


@dataclass
class Postmortem:
    incident_id: int
    created_at: datetime
    state: PostmortemState = PostmortemState.PENDING
    required: bool = False
    due_at: datetime | None = None
    next_reminder_at: datetime | None = None  # None: no reminder pending
    reminders: int = 0
    cause: str | None = None  # a cause tag, e.g. "db-pool"; repeats are found by it
    text: str = ""  # the Markdown draft as last rendered (and edited)
    flags: list[dict[str, str]] = field(default_factory=list)  # blameless findings
    drafted_at: datetime | None = None
    published_at: datetime | None = None
    updated_at: datetime | None = None
    id: int | None = None


@dataclass
class ActionItem:
    incident_id: int
    team: str
    title: str
    owner: str
    due_on: date
    created_at: datetime
    created_by: str | None = None
    state: ActionState = ActionState.OPEN
    ticket: str | None = None
    done_at: datetime | None = None
    next_reminder_at: datetime | None = None  # when an overdue reminder is due next
    reminders: int = 0
    id: int | None = None

    @property
    def ref(self) -> str:
        return f"AI-{self.id}"


@dataclass(frozen=True)
class RepeatIncident:
    incident_id: int
    title: str
    declared_at: datetime


class FollowUpRecords(Protocol):
    """Postmortems, action items and timeline edits, inside one store transaction."""

    def postmortem(self, incident_id: int, *, for_update: bool = False) -> Postmortem | None: ...
    def save_postmortem(self, postmortem: Postmortem) -> Postmortem:
        """Insert or update (by incident)."""
        ...

    def postmortems_to_remind(self, *, now: datetime, limit: int = 50) -> list[Postmortem]:
        """Unpublished postmortems whose reminder is due, locked for this transaction."""
        ...

    def resolved_needing_postmortem(
        self, *, since: datetime, priorities: list[str], limit: int = 50
    ) -> list[int]:
        """Incidents of `priorities` resolved (or closed) since `since`, not drills, whose
        postmortem has no due date yet (or no record at all)."""
        ...

    def repeats(
        self, *, service: str, cause: str, since: datetime, until: datetime
    ) -> list[RepeatIncident]:
        """Incidents on `service` tagged `cause`, declared in [since, until], oldest first."""
        ...

    def add_action(self, item: ActionItem) -> ActionItem: ...
    def save_action(self, item: ActionItem) -> None: ...
    def action(self, action_id: int) -> ActionItem | None: ...
    def actions(
        self, *, incident_id: int | None = None, team: str | None = None,
        owner: str | None = None, open_only: bool = True,
    ) -> list[ActionItem]: ...

    def actions_to_remind(self, *, now: datetime, limit: int = 50) -> list[ActionItem]:
        """Open action items whose overdue reminder is due, locked for this transaction."""
        ...

    def event_by_source(self, incident_id: int, source_id: str) -> TimelineEvent | None: ...
    def update_event(self, event: TimelineEvent) -> None:
        """Rewrite an event's text and data (an edited or deleted chat message)."""
        ...

    def mark(self, key: str, *, at: datetime) -> bool:
        """Claim a one-off key (a weekly summary, a reminder); False if it was claimed before."""
        ...
