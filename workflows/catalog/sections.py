"""The sections of the catalog: typed models of people, teams, services, schedules, policies,
priorities and the rest, with the field types that validate them. `workflows.catalog.model` puts them
together into the `Catalog` and reads the file."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

import holidays as holiday_data
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    field_validator,
    model_validator,
)

from workflows.durations import Duration, parse_days, parse_duration, parse_handoff, parse_hours
from workflows.errors import FirebellError, NotFound


class UnknownEntity(NotFound, LookupError):
    """A person, team, schedule, policy, severity ... that the catalog does not have.

    Still a `LookupError` too, so a caller that asks "is this a person?" may catch either."""

    def __init__(self, kind: str, id: str, known: Iterable[str] = ()) -> None:
        self.kind, self.id, self.known = kind, id, sorted(known)
        hint = (
            f" (known: {', '.join(self.known)})" if self.known else f" (the catalog has no {kind})"
        )
        super().__init__(f"unknown {kind} {id!r}{hint}")

    def __str__(self) -> str:  # LookupError would quote the message like a KeyError does
        return str(self.args[0])


class CatalogError(FirebellError):
    """The catalog has problems; `problems` holds all of them, one "<file>:<line>: <path>: ..." each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


def _duration(value: Any) -> Duration:
    return value if isinstance(value, Duration) else parse_duration(value)


def _zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        raise ValueError(
            f"unknown time zone {name!r} (use an IANA name like Europe/Berlin)"
        ) from None
    return name


def _id(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.@+-]*", value):
        raise ValueError(
            f"bad id {value!r}: use letters, digits, '-', '_' or '.' (no spaces or ':')"
        )
    return value


def _days(value: str) -> str:
    parse_days(value)
    return value


def _hours(value: str) -> str:
    parse_hours(value)
    return value


def _label(value: Any) -> Any:
    # Alert labels are strings; `tier: 1` or `critical: true` in YAML mean the same words.
    if isinstance(value, bool):
        return str(value).lower()
    return str(value) if isinstance(value, int | float) else value


DurationField = Annotated[
    Duration,
    PlainValidator(_duration, json_schema_input_type=str | int),
    PlainSerializer(str, return_type=str),
]
Zone = Annotated[str, AfterValidator(_zone)]
Id = Annotated[str, AfterValidator(_id)]
Label = Annotated[str, BeforeValidator(_label)]
Days = Annotated[str, AfterValidator(_days)]
Hours = Annotated[str, AfterValidator(_hours)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Named(_Model):
    @model_validator(mode="before")
    @classmethod
    def _name_defaults_to_id(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("name") and isinstance(data.get("id"), str):
            return {**data, "name": data["id"]}
        return data


class NotifyRule(_Model):
    """One channel of a person's own paging rule: `{channel: sms, after: 1m}`."""

    channel: Literal["chat", "sms", "voice", "email", "telegram", "push"]
    after: DurationField = Duration(0)


# What in the catalog reaches a person by each paging channel (any one of the fields will do).
ADDRESSES: dict[str, tuple[str, ...]] = {
    "chat": ("slack", "teams"), "sms": ("phone",), "voice": ("phone",), "email": ("email",),
    "telegram": ("telegram_chat_id",), "push": ("ntfy_topic", "pushover_user"),
}


class Person(_Named):
    id: Id
    name: str
    email: str | None = None
    phone: str | None = None
    slack: str | None = None
    teams: str | None = None
    telegram_chat_id: int | None = None  # the private chat with Firebell's bot (`telegram` pages)
    # `push` pages: ntfy if the person has a topic (a long random name), else Pushover.
    ntfy_topic: str | None = None
    pushover_user: str | None = None  # the Pushover user (or group) key
    timezone: Zone | None = None  # None: the catalog's zone, see Catalog.person_zone
    notify: list[NotifyRule] = []  # overrides the priority's channels for this person

    def has_address(self, channel: str) -> bool:
        """Whether the catalog gives this person an address for `channel` (ADDRESSES)."""
        return any(getattr(self, field, None) not in (None, "")
                   for field in ADDRESSES.get(channel, ()))

    @field_validator("phone")
    @classmethod
    def _e164(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"\+[1-9]\d{6,14}", re.sub(r"[ ()-]", "", value)):
            raise ValueError(f"phone {value!r} must be in international form, e.g. +15550100001")
        return None if value is None else re.sub(r"[ ()-]", "", value)

    @field_validator("ntfy_topic")
    @classmethod
    def _ntfy_topic(cls, value: str | None) -> str | None:
        # ntfy's own rule for topic names; anyone who knows the topic reads the pages.
        if value is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", value):
            raise ValueError(f"ntfy_topic {value!r}: use up to 64 letters, digits, '-' or '_'")
        return value

    @field_validator("pushover_user")
    @classmethod
    def _pushover_key(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9]{30}", value):
            raise ValueError(f"pushover_user {value!r}: a Pushover user key is 30 letters and digits")
        return value


BRIDGE_PLACEHOLDERS = ("incident_slug", "incident_id", "incident_ref")


def _bridge(value: str) -> str:
    """A conference bridge: a fixed http(s) URL or a template with `{incident_slug}` (the
    incident's channel name, `inc-20260301-42-checkout-is-down`), `{incident_id}` (42) and
    `{incident_ref}` (INC-42)."""
    if not re.match(r"https?://[^\s/{}]+", value) or re.search(r"\s", value):
        raise ValueError(f"must be an http:// or https:// URL (got {value!r})")
    for name in re.findall(r"\{([^{}]*)\}", value):
        if name not in BRIDGE_PLACEHOLDERS:
            raise ValueError(f"unknown placeholder {{{name}}} (known: "
                             + ", ".join(f"{{{p}}}" for p in BRIDGE_PLACEHOLDERS) + ")")
    if re.sub(r"\{[^{}]*\}", "", value).count("{") or re.sub(r"\{[^{}]*\}", "", value).count("}"):
        raise ValueError(f"unbalanced braces in {value!r}")
    return value


Bridge = Annotated[str, AfterValidator(_bridge)]


class Team(_Named):
    id: Id
    name: str
    slack_channel: str | None = None
    teams_channel: str | None = None
    escalation_policy: str | None = None
    bridge: Bridge | None = None  # the team's conference bridge; else the catalog's `bridge`


class MaintenanceWindow(_Model):
    """Pages for the service are held back from `start` to `end` (aware, or in the catalog zone)."""

    start: datetime
    end: datetime
    reason: str = "maintenance"


class Service(_Named):
    id: Id
    name: str
    team: str
    runbook: str | None = None
    dashboards: list[str] = []
    match: dict[str, Label] = {}  # alert labels that select this service
    environment: str = "production"
    maintenance: list[MaintenanceWindow] = []


class _Weekly(_Model):
    """Some `days` of the week ("Mon-Fri"), `hours` ("09:00-17:00", may run overnight) of each."""

    days: Days
    hours: Hours

    @property
    def weekdays(self) -> frozenset[int]:
        return parse_days(self.days)

    @property
    def window(self) -> tuple[int, int]:
        """(start, end) in minutes of the day; end <= start means the window runs overnight."""
        return parse_hours(self.hours)


class Restriction(_Weekly):
    """When a layer is active: `days` ("Mon-Fri") and `hours` ("09:00-17:00", may run overnight)."""

    days: Days = "Mon-Sun"
    hours: Hours = "00:00-24:00"


class Override(_Model):
    """`person` is on call from `start` to `end`; naive times are in the schedule's zone."""

    person: str
    start: datetime
    end: datetime

    @model_validator(mode="after")
    def _ordered(self) -> Override:
        naive = self.start.tzinfo is None, self.end.tzinfo is None
        if naive[0] == naive[1] and self.end <= self.start:
            raise ValueError(f"override ends ({self.end}) before it starts ({self.start})")
        return self


class Rotation(_Model):
    """Members take turns, each for `every`, handing off at `handoff` ("Mon 09:00" or "09:00").

    The first member's turn begins at the first handoff on or after `start`; the cycle runs
    both ways from there, so a schedule never has a hole before its start date.
    """

    every: DurationField
    handoff: str = "09:00"
    start: date
    members: list[str] = Field(min_length=1)

    @field_validator("handoff", mode="before")
    @classmethod
    def _check_handoff(cls, value: Any) -> Any:
        parse_handoff(value)
        return value

    @model_validator(mode="after")
    def _check_every(self) -> Rotation:
        if self.every.business:
            raise ValueError("a rotation's `every` is wall-clock time, not business time")
        if self.every.seconds < 60:
            raise ValueError(f"rotation `every` must be at least 1m (got {self.every})")
        if self.handoff_weekday is not None and self.every.seconds % (7 * 86400):
            raise ValueError(
                f"handoff {self.handoff!r} names a day, which needs `every` in whole weeks "
                f"(got {self.every}); write just the time, e.g. '09:00'"
            )
        return self

    @property
    def handoff_weekday(self) -> int | None:
        return parse_handoff(self.handoff)[0]

    @property
    def handoff_minute(self) -> int:
        return parse_handoff(self.handoff)[1]


class Layer(Rotation):
    """One rotation of a schedule; a later layer wins wherever it has someone on call."""

    name: str = ""
    restrictions: Restriction | None = None


class Schedule(_Model):
    id: Id
    team: str
    name: str = ""
    timezone: Zone | None = None  # filled with the catalog's zone once loaded
    rotation: Rotation | None = None  # shorthand for a single layer
    layers: list[Layer] = []
    overrides: list[Override] = []
    user_group: str | None = None  # chat user group kept to whoever is on call (Slack S0...)

    @model_validator(mode="after")
    def _unique_layer_names(self) -> Schedule:
        names = [layer.name for layer in self.layers if layer.name]
        if len(names) != len(set(names)):
            raise ValueError(f"layer names must be unique (got {', '.join(names)})")
        return self

    @property
    def all_layers(self) -> list[Layer]:
        """Bottom to top; a plain `rotation:` is the bottom layer, named "rotation"."""
        layers = [Layer(name="rotation", **self.rotation.model_dump())] if self.rotation else []
        for number, layer in enumerate(self.layers, start=1):
            layers.append(
                layer if layer.name else layer.model_copy(update={"name": f"layer {number}"})
            )
        return layers


class EscalationStep(_Model):
    notify: list[str] = Field(min_length=1)  # schedule:<id>, person:<id>, team:<id>, group:<name>
    ack_timeout: DurationField

    @field_validator("notify", mode="before")
    @classmethod
    def _one_target(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class EscalationPolicy(_Named):
    id: Id
    name: str
    repeat: int = Field(default=0, ge=0)  # run the whole list this many more times
    steps: list[EscalationStep] = Field(min_length=1)


class BusinessHours(_Weekly):
    days: Days = "Mon-Fri"
    hours: Hours = "09:00-17:00"
    holidays: str | None = None  # country code ("DE"), optionally with a region ("DE-BY")
    timezone: Zone | None = None  # None: the catalog's zone

    @field_validator("holidays", mode="before")
    @classmethod
    def _country(cls, value: Any) -> Any:
        value = "NO" if value is False else value  # YAML 1.1 reads a bare NO (Norway) as false
        if isinstance(value, str):
            country, _, region = value.upper().partition("-")
            supported = holiday_data.list_supported_countries()
            if country not in supported:
                raise ValueError(f"unknown holiday country {value!r} (use a code like DE, US, GB)")
            if region and region not in supported[country]:
                raise ValueError(
                    f"unknown region {region!r} of {country} (known: {', '.join(supported[country])})"
                )
            return value.upper()
        return value


def _page(value: Any) -> Any:
    if isinstance(value, bool) or value == "coverage":
        return value
    raise ValueError(f"page must be true, false or coverage (got {value!r})")


class Response(_Model):
    """What a priority gets: paging or not, how fast an ack is due, channels, update cadence.

    `page: coverage` pages inside `coverage_hours` (default: the catalog's business hours) and,
    outside them, queues the paging until the next coverage window opens.
    """

    page: Annotated[
        bool | Literal["coverage"],
        PlainValidator(_page, json_schema_input_type=bool | Literal["coverage"]),
    ] = False
    coverage_hours: BusinessHours | None = None
    ack_within: DurationField
    channels: list[Literal["voice", "sms", "chat", "email", "telegram", "push", "ticket"]] = ["chat"]
    update_every: DurationField | None = None
    monitor_for: DurationField | None = None

    @property
    def pages(self) -> bool:
        """A paging priority (an incident with a channel), at once or in its coverage hours."""
        return self.page is not False

    @model_validator(mode="after")
    def _coverage_only_with_coverage(self) -> Response:
        if self.coverage_hours is not None and self.page != "coverage":
            raise ValueError("coverage_hours is only read with `page: coverage`")
        return self


DEFAULT_MATRIX = {
    "critical": {"high": "P1", "low": "P2"},
    "major": {"high": "P2", "low": "P3"},
    "minor": {"high": "P3", "low": "P4"},
}
DEFAULT_RESPONSE = {
    "P1": {"page": True, "ack_within": "5m", "channels": ["voice", "sms", "chat"],
           "update_every": "15m", "monitor_for": "1h"},
    "P2": {"page": True, "ack_within": "15m", "channels": ["sms", "chat"],
           "update_every": "20m", "monitor_for": "30m"},
    "P3": {"page": False, "ack_within": "8h business", "channels": ["chat"]},
    "P4": {"page": False, "ack_within": "5d business", "channels": ["ticket"]},
}  # fmt: skip


def _priority(value: str) -> str:
    if not re.fullmatch(r"P[1-9]\d*", value):
        raise ValueError(f"priority {value!r} must look like P1, P2, ...")
    return value


Priority = Annotated[str, AfterValidator(_priority)]


class Priorities(_Model):
    matrix: dict[str, dict[str, Priority]] = Field(default_factory=lambda: DEFAULT_MATRIX)
    nonproduction: Priority = "P3"  # the best priority a non-production environment gets
    response: dict[Priority, Response] = Field(
        default_factory=lambda: {k: Response(**v) for k, v in DEFAULT_RESPONSE.items()}
    )

    @field_validator("matrix", mode="before")
    @classmethod
    def _lowercase(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        return {
            str(sev).lower(): {str(u).lower(): p for u, p in row.items()}
            if isinstance(row, dict)
            else row
            for sev, row in value.items()
        }


class Announcements(_Model):
    """Where stakeholders follow incidents: one message per incident, kept current."""

    slack_channel: str | None = None
    teams_channel: str | None = None
    priorities: list[Priority] = ["P1", "P2"]  # which incidents are announced


class Statuspage(_Model):
    """`status_page.statuspage:` the hosted Atlassian Statuspage kept in step with public updates
    (STATUSPAGE_API_KEY; the page id here or in STATUSPAGE_PAGE_ID)."""

    page_id: str | None = None
    components: dict[str, str] = {}  # service id -> the Statuspage component id it is shown as


class StatusPage(_Model):
    """`status_page:` Firebell's public status page (`GET /status`): which services it shows and
    how far back its history goes. Only incidents with a public status update ever appear."""

    title: str = "Service status"
    services: list[str] | None = None  # None: every production service of the catalog
    history_days: int = Field(default=14, ge=1, le=366)  # resolved incidents shown this long
    statuspage: Statuspage = Statuspage()


class NotificationClock(_Model):
    """A duty to notify someone (a regulator, customers) within a time of an incident's discovery."""

    id: Id
    name: str
    applies_to: list[Literal["security", "privacy", "compliance"]] = Field(min_length=1)
    within: DurationField
    remind_before: list[DurationField] = []  # reminders this long before the deadline
    page_group: str | None = None  # paged when the deadline nears unmet
    page_before: DurationField = Duration(3600)


class PostmortemPolicy(_Model):
    """`postmortem:` when a postmortem is owed, by when, and how its follow-up is chased."""

    required_for: list[Priority] = ["P1", "P2"]
    optional_for: list[Priority] = ["P3"]
    due: DurationField = Duration(86400, business=True)  # after resolution: next business day
    remind_every: DurationField = Duration(86400, business=True)
    template: str | None = None  # a team's own Jinja2 file instead of templates/postmortem.md.j2
    repeat_window: DurationField = Duration(30 * 86400)
    cause_tags: list[str] = []  # empty: any tag is accepted
    key_moment_reaction: str = "star"  # this reaction on a message marks a key moment
    action_reminder_every: DurationField = Duration(86400, business=True)
    weekly_summary: str = "Mon 09:00"  # per-team summary of open action items

    @field_validator("weekly_summary")
    @classmethod
    def _check_summary(cls, value: str) -> str:
        if parse_handoff(value)[0] is None:
            raise ValueError(f"weekly_summary {value!r} needs a day and a time, e.g. 'Mon 09:00'")
        return value


def _audience(value: Any) -> Any:
    if value not in ("catalog", "workspace"):
        raise ValueError(
            f"{value!r} is not an audience: use 'catalog' (only people in the catalog) or "
            "'workspace' (anyone who can reach Firebell in Slack or Teams)"
        )
    return value


Audience = Annotated[Literal["catalog", "workspace"], BeforeValidator(_audience)]


class Access(_Model):
    """`access:` who may change things. Asking (`/oncall`, `help`, `list`, `timeline`) is open
    to everyone; every other verb is for people in the catalog unless opened to the workspace.

    `act` is the default of every verb; a verb's own key overrides it, either way
    (`act: workspace` with `resolve: catalog`, or `act: catalog` with `declare: workspace`).
    """

    act: Audience = "catalog"
    declare: Audience | None = None  # /incident declare and the declaration form
    report: Audience | None = None  # /incident report
    acknowledge: Audience | None = None  # /incident ack and the Acknowledge button
    status: Audience | None = None  # /incident status <stage> <text>
    severity: Audience | None = None
    priority: Audience | None = None
    role: Audience | None = None
    page: Audience | None = None
    escalate: Audience | None = None
    reassign: Audience | None = None
    notified: Audience | None = None  # /incident notified <clock>
    mitigate: Audience | None = None
    resolve: Audience | None = None  # /incident resolve and the Resolve button
    reopen: Audience | None = None
    close: Audience | None = None
    note: Audience | None = None
    bridge: Audience | None = None  # /incident bridge <url>
    postmortem: Audience | None = None  # draft, review, publish, reopen (status is asking)
    action: Audience | None = None  # add an action item, or mark one done
    handoff: Audience | None = None
    cause: Audience | None = None
    schedule: Audience | None = None  # /oncall override|swap|cover|take|undo, the Take it button

    def audience(self, verb: str) -> str:
        """Who may do `verb` (a field of this model other than `act`)."""
        if verb == "act" or verb not in type(self).model_fields:
            raise ValueError(f"unknown verb {verb!r}")
        own: str | None = getattr(self, verb)
        return own or self.act
