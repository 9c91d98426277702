"""The catalog's `intake:` section: grouping, auto-resolve, flapping, owners, integration tokens.

Every key is optional; the defaults are what a catalog without the section gets.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, PlainValidator

from workflows.durations import Duration, parse_duration


def _duration(value: Any) -> Duration:
    return value if isinstance(value, Duration) else parse_duration(value)


IntakeDuration = Annotated[
    Duration,
    PlainValidator(_duration, json_schema_input_type=str | int),
    PlainSerializer(str, return_type=str),
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Integration(_Model):
    """A sender with a token of its own, so it can be limited and revoked on its own."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    token: str = Field(min_length=16)


class RateLimit(_Model):
    """A token bucket per token: `per_second` sustained, `burst` at once; beyond it, 429."""

    per_second: float = Field(default=2000.0, gt=0)
    burst: int = Field(default=4000, ge=1)


class Flapping(_Model):
    """An alert that fired again `count` times within `within` is flapping."""

    count: int = Field(default=3, ge=2)
    within: IntakeDuration = Duration(3600)


class ReportDefaults(_Model):
    """Triage of `/incident report` when the reporter does not say."""

    severity: str = "major"
    urgency: str = "low"


class IntakeSettings(_Model):
    grouping_window: IntakeDuration = Duration(1800)
    auto_resolve: bool = False  # resolve the incident when every alert of it resolved
    owners: list[str] = []  # person ids of the catalog's owners: told about unrouted alerts
    owners_channel: str | None = None  # and this channel, when set
    flapping: Flapping = Flapping()
    rate_limit: RateLimit = RateLimit()
    integrations: list[Integration] = []
    report: ReportDefaults = ReportDefaults()
