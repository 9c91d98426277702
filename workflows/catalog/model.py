"""The catalog (`FIREBELL_CONFIG`): people, teams, services, schedules, policies, priorities.

`parse_catalog` reads the YAML of DESIGN.md's "The catalog" into typed models and reports every
mistake at once, each with its file, line and path (`escalation_policies[0].steps[1].notify[0]`).
"""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    ConfigDict,
    PrivateAttr,
    model_validator,
)

from workflows.catalog.intake_settings import IntakeSettings
from workflows.catalog.sections import (
    DEFAULT_MATRIX,
    DEFAULT_RESPONSE,
    Access,
    Announcements,
    Bridge,
    BusinessHours,
    CatalogError,
    DurationField,
    EscalationPolicy,
    EscalationStep,
    Layer,
    MaintenanceWindow,
    NotificationClock,
    NotifyRule,
    Override,
    Person,
    PostmortemPolicy,
    Priorities,
    Response,
    Restriction,
    Rotation,
    Schedule,
    Service,
    StatusPage,
    Team,
    UnknownEntity,
    Zone,
)
from workflows.durations import Duration

# The sections are defined in catalog_sections and are part of this module's API.
__all__ = [
    "DEFAULT_MATRIX", "DEFAULT_RESPONSE", "Access", "BusinessHours", "Catalog", "CatalogError",
    "EscalationPolicy", "EscalationStep", "Layer", "MaintenanceWindow", "NotificationClock",
    "NotifyRule", "Override", "Person", "PostmortemPolicy", "Priorities", "Response",
    "Restriction", "Rotation", "Schedule", "Service", "Team", "UnknownEntity",
]  # fmt: skip


class Catalog(BaseModel):
    """Everything Firebell knows about the organisation; build it with `parse_catalog`.

    Unknown top-level sections are kept (`model_extra`) so that other parts can add their own.
    """

    model_config = ConfigDict(extra="allow")

    timezone: Zone = "UTC"
    business_hours: BusinessHours = BusinessHours()
    people: list[Person] = []
    teams: list[Team] = []
    services: list[Service] = []
    schedules: list[Schedule] = []
    escalation_policies: list[EscalationPolicy] = []
    escalation_groups: dict[str, list[str]] = {}
    priorities: Priorities = Priorities()
    notification_clocks: list[NotificationClock] = []
    intake: IntakeSettings = IntakeSettings()  # alert intake: grouping, owners, tokens
    postmortem: PostmortemPolicy = PostmortemPolicy()
    handoff_after: DurationField = Duration(8 * 3600)  # remind the commander to hand off
    access: Access = Access()  # who may change things (workflows/access.py)
    announcements: Announcements = Announcements()  # where stakeholders follow P1/P2 incidents
    status_page: StatusPage = StatusPage()  # the public status page (GET /status)
    bridge: Bridge | None = None  # the default conference bridge (a team's `bridge` wins)

    _index: dict[str, dict[str, Any]] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _resolve(self) -> Catalog:
        # Naive override times are wall-clock times in their schedule's zone: store them aware.
        self.schedules = [_localized(s, s.timezone or self.timezone) for s in self.schedules]
        for section, kind in _SECTIONS:
            index: dict[str, Any] = {}
            for item in getattr(self, section):
                index.setdefault(item.id, item)
            self._index[kind] = index
        return self

    def _get(self, kind: str, id: str) -> Any:
        try:
            return self._index[kind][id]
        except KeyError:
            raise UnknownEntity(kind, str(id), self._index[kind]) from None

    def person(self, person_id: str) -> Person:
        return self._get("person", person_id)  # type: ignore[no-any-return]

    def team(self, team_id: str) -> Team:
        return self._get("team", team_id)  # type: ignore[no-any-return]

    def service(self, service_id: str) -> Service:
        return self._get("service", service_id)  # type: ignore[no-any-return]

    def schedule(self, schedule_id: str) -> Schedule:
        return self._get("schedule", schedule_id)  # type: ignore[no-any-return]

    def policy(self, policy_id: str) -> EscalationPolicy:
        return self._get("policy", policy_id)  # type: ignore[no-any-return]

    def group(self, name: str) -> list[str]:
        """The targets of an escalation group (`legal`, `security`, ...)."""
        if name not in self.escalation_groups:
            raise UnknownEntity("group", name, self.escalation_groups)
        return self.escalation_groups[name]

    def person_zone(self, person_id: str) -> str:
        """The person's time zone name, or the catalog's when they have none."""
        return self.person(person_id).timezone or self.timezone

    def with_schedules(self, schedules: list[Schedule]) -> Catalog:
        """A copy with these schedules in place of the file's (the effective ones, with changes)."""
        copy = self.model_copy(update={"schedules": schedules})
        copy._index = {}
        return copy._resolve()  # type: ignore[operator]  # the validator, run again

    def schedule_zone(self, schedule_id: str) -> str:
        return self.schedule(schedule_id).timezone or self.timezone

    @property
    def business_zone(self) -> str:
        return self.business_hours.timezone or self.timezone

    def person_by_chat_id(self, chat_id: str) -> Person | None:
        """The person whose Slack or Teams id this is."""
        return next((p for p in self.people if chat_id in (p.slack, p.teams)), None)

    def find_person(self, ref: str) -> Person:
        """A person from what someone typed: id, "@id", "<@U123>", "<@U123|name>", chat id, email."""
        text = ref.strip()
        mention = re.fullmatch(r"<[@!]([^|>]+)(?:\|[^>]*)?>", text)
        mailto = re.fullmatch(r"<mailto:([^|>]+)(?:\|[^>]*)?>", text)
        key = mention.group(1) if mention else mailto.group(1) if mailto else text.removeprefix("@")
        if key in self._index["person"]:
            return self.person(key)
        found = self.person_by_chat_id(key) or next(
            (
                p
                for p in self.people
                if (p.email or "").lower() == key.lower() or p.name.lower() == key.lower()
            ),
            None,
        )
        if found is None:
            raise UnknownEntity("person", ref, self._index["person"])
        return found

    def schedules_of_team(self, team_id: str) -> list[Schedule]:
        self.team(team_id)
        return [s for s in self.schedules if s.team == team_id]

    def team_for_service(self, service_id: str) -> Team:
        return self.team(self.service(service_id).team)

    def match_service(self, labels: dict[str, str]) -> Service | None:
        """The service whose `match` labels all equal the alert's; the most specific one wins."""
        found = [
            s
            for s in self.services
            if s.match and all(labels.get(k) == v for k, v in s.match.items())
        ]
        return max(found, key=lambda s: len(s.match), default=None)

    def priority_for(self, *, severity: str, urgency: str, environment: str = "production") -> str:
        """The matrix's priority; outside production it is no better than `nonproduction`."""
        matrix = self.priorities.matrix
        row = matrix.get(severity.strip().lower())
        if row is None:
            raise UnknownEntity("severity", severity, matrix)
        priority = row.get(urgency.strip().lower())
        if priority is None:
            raise UnknownEntity("urgency", urgency, row)
        if environment.strip().lower() not in ("production", "prod"):
            priority = max(priority, self.priorities.nonproduction, key=lambda p: int(p[1:]))
        return priority

    def response_for(self, priority: str) -> Response:
        if priority not in self.priorities.response:
            raise UnknownEntity("priority", priority, self.priorities.response)
        return self.priorities.response[priority]


def _localized(schedule: Schedule, zone: str) -> Schedule:
    tz = ZoneInfo(zone)
    overrides = [
        o.model_copy(
            update={
                "start": o.start if o.start.tzinfo else o.start.replace(tzinfo=tz),
                "end": o.end if o.end.tzinfo else o.end.replace(tzinfo=tz),
            }
        )
        for o in schedule.overrides
    ]
    return schedule.model_copy(update={"timezone": zone, "overrides": overrides})


_SECTIONS = [
    ("people", "person"),
    ("teams", "team"),
    ("services", "service"),
    ("schedules", "schedule"),
    ("escalation_policies", "policy"),
]
