"""What people are sent: words rendered from a template, and the actions they can take."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Button:
    action: str  # "ack", "resolve", ...
    label: str
    value: str  # usually the incident id
    style: str | None = None  # "primary" | "danger"


@dataclass(frozen=True)
class Message:
    """Words rendered from a template, plus the actions a person can take on them."""

    text: str
    buttons: tuple[Button, ...] = ()
    links: tuple[tuple[str, str], ...] = field(default=())  # (label, url)
