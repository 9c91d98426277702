"""The follow-up records (postmortems, action items, marks) over the store's own SQL session."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from storage.db import aware, from_row, to_row
from storage.postmortem_tables import ActionItemRow, FollowUpMarkRow, PostmortemRow
from storage.tables import IncidentRow, TimelineRow
from workflows.followup.model import (
    ActionItem,
    ActionState,
    Postmortem,
    PostmortemState,
    RepeatIncident,
)
from workflows.model import TimelineEvent

_DONE_STATES = [PostmortemState.PUBLISHED.value]
_RESOLVED = ["resolved", "closed"]
_CHUNK = 500  # ids per IN list


def _postmortem(row: PostmortemRow) -> Postmortem:
    values = from_row(row, Postmortem)
    values["state"] = PostmortemState(row.state)
    values["flags"] = list(row.flags or [])
    return Postmortem(**values)


def _action(row: ActionItemRow) -> ActionItem:
    values = from_row(row, ActionItem)
    values["state"] = ActionState(row.state)
    return ActionItem(**values)


class SqlFollowUps:
    """`FollowUpRecords` in the session of one `SqlTransaction`."""

    def __init__(self, session: Session, *, sqlite: bool) -> None:
        self._session = session
        self._sqlite = sqlite

    # postmortems -----------------------------------------------------------
    def _postmortem_row(self, incident_id: int, *, for_update: bool = False) -> PostmortemRow | None:
        query = select(PostmortemRow).where(PostmortemRow.incident_id == incident_id)
        if for_update and not self._sqlite:
            query = query.with_for_update()
        return self._session.exec(query).first()

    def postmortem(self, incident_id: int, *, for_update: bool = False) -> Postmortem | None:
        row = self._postmortem_row(incident_id, for_update=for_update)
        return _postmortem(row) if row else None

    def save_postmortem(self, postmortem: Postmortem) -> Postmortem:
        values = {**to_row(postmortem), "state": postmortem.state.value}
        values.pop("id")
        row = self._postmortem_row(postmortem.incident_id)
        if row is None:
            row = PostmortemRow(**values)
        else:
            for key, value in values.items():
                setattr(row, key, value)
        self._session.add(row)
        self._session.flush()
        postmortem.id = row.id
        return postmortem

    def postmortems_to_remind(self, *, now: datetime, limit: int = 50) -> list[Postmortem]:
        query = (
            select(PostmortemRow)
            .where(
                col(PostmortemRow.state).not_in(_DONE_STATES),
                col(PostmortemRow.next_reminder_at).is_not(None),
                col(PostmortemRow.next_reminder_at) <= now,
            )
            .order_by(col(PostmortemRow.next_reminder_at))
            .limit(limit)
        )
        if not self._sqlite:
            query = query.with_for_update(skip_locked=True)  # replicas take different rows
        return [_postmortem(row) for row in self._session.exec(query)]

    def resolved_needing_postmortem(
        self, *, since: datetime, priorities: list[str], limit: int = 50
    ) -> list[int]:
        # Two reads, each bounded by the incidents resolved since `since` (the index
        # ix_incidents_owed_postmortem answers the first alone): one join read every postmortem
        # ever written once history made PostgreSQL prefer hashing them to looking each up.
        recent = [int(found) for found in self._session.exec(
            select(IncidentRow.id).where(
                col(IncidentRow.state).in_(_RESOLVED),
                col(IncidentRow.priority).in_(priorities),
                col(IncidentRow.drill).is_(False),
                col(IncidentRow.resolved_at) >= since,
            )
        ) if found is not None]
        settled: set[int] = set()  # a postmortem with a due date, or published: nothing owed
        for first in range(0, len(recent), _CHUNK):
            settled.update(int(found) for found in self._session.exec(
                select(PostmortemRow.incident_id).where(
                    col(PostmortemRow.incident_id).in_(recent[first:first + _CHUNK]),
                    or_(col(PostmortemRow.due_at).is_not(None),
                        col(PostmortemRow.state).in_(_DONE_STATES)),
                )
            ))
        return sorted(set(recent) - settled)[:limit]

    def repeats(
        self, *, service: str, cause: str, since: datetime, until: datetime
    ) -> list[RepeatIncident]:
        query = (
            select(IncidentRow.id, IncidentRow.title, IncidentRow.declared_at)
            .join(PostmortemRow, col(PostmortemRow.incident_id) == col(IncidentRow.id))
            .where(
                IncidentRow.service == service,
                PostmortemRow.cause == cause,
                col(IncidentRow.declared_at) >= since,
                col(IncidentRow.declared_at) <= until,
            )
            .order_by(col(IncidentRow.declared_at), col(IncidentRow.id))
        )
        return [
            RepeatIncident(incident_id=int(i or 0), title=t, declared_at=aware(at))
            for i, t, at in self._session.exec(query)
        ]

    # action items ----------------------------------------------------------
    def add_action(self, item: ActionItem) -> ActionItem:
        values = {**to_row(item), "state": item.state.value}
        values.pop("id")
        row = ActionItemRow(**values)
        self._session.add(row)
        self._session.flush()
        item.id = row.id
        return item

    def save_action(self, item: ActionItem) -> None:
        row = self._session.get(ActionItemRow, item.id)
        if row is None:
            raise LookupError(f"there is no action item {item.id}")
        for key, value in to_row(item).items():
            setattr(row, key, value.value if key == "state" else value)
        self._session.add(row)
        self._session.flush()

    def action(self, action_id: int) -> ActionItem | None:
        row = self._session.get(ActionItemRow, action_id)
        return _action(row) if row else None

    def actions(
        self, *, incident_id: int | None = None, team: str | None = None,
        owner: str | None = None, open_only: bool = True,
    ) -> list[ActionItem]:
        query = select(ActionItemRow).order_by(col(ActionItemRow.due_on), col(ActionItemRow.id))
        if incident_id is not None:
            query = query.where(ActionItemRow.incident_id == incident_id)
        if team is not None:
            query = query.where(ActionItemRow.team == team)
        if owner is not None:
            query = query.where(ActionItemRow.owner == owner)
        if open_only:
            query = query.where(ActionItemRow.state == ActionState.OPEN.value)
        return [_action(row) for row in self._session.exec(query)]

    def actions_to_remind(self, *, now: datetime, limit: int = 50) -> list[ActionItem]:
        query = (
            select(ActionItemRow)
            .where(
                ActionItemRow.state == ActionState.OPEN.value,
                col(ActionItemRow.next_reminder_at).is_not(None),
                col(ActionItemRow.next_reminder_at) <= now,
            )
            .order_by(col(ActionItemRow.next_reminder_at))
            .limit(limit)
        )
        if not self._sqlite:
            query = query.with_for_update(skip_locked=True)
        return [_action(row) for row in self._session.exec(query)]

    # timeline edits ----------------------------------------------------------
    def event_by_source(self, incident_id: int, source_id: str) -> TimelineEvent | None:
        row = self._session.exec(
            select(TimelineRow).where(
                TimelineRow.incident_id == incident_id, TimelineRow.source_id == source_id
            )
        ).first()
        return TimelineEvent(**from_row(row, TimelineEvent)) if row else None

    def update_event(self, event: TimelineEvent) -> None:
        row = self._session.get(TimelineRow, event.id)
        if row is None:
            raise LookupError(f"there is no timeline event {event.id}")
        row.text, row.data = event.text, dict(event.data)  # a new dict: JSON change is seen
        self._session.add(row)
        self._session.flush()

    # marks -------------------------------------------------------------------
    def mark(self, key: str, *, at: datetime) -> bool:
        try:
            with self._session.begin_nested():
                self._session.add(FollowUpMarkRow(key=key, at=at.astimezone(UTC)))
        except IntegrityError:
            return False
        return True
