"""What people are sent: words rendered from a template, and the actions they can take."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Button:
    action: str  # "ack", "resolve", ...
    label: str
    value: str  # usually the incident id
    style: str | None = None  # "primary" | "danger"


# How urgent a message looks: the platform shows it as a colour (Slack: the header's mark,
# Teams: the container's style).
TONES = ("critical", "warning", "good", "info")


@dataclass(frozen=True)
class Message:
    """Words rendered from a template, plus the actions a person can take on them.

    A card (the incident's live card, an announcement, a page) also has a `title`, `fields`
    (label, value) shown side by side, and a `tone`."""

    text: str
    buttons: tuple[Button, ...] = ()
    links: tuple[tuple[str, str], ...] = field(default=())  # (label, url)
    title: str | None = None
    fields: tuple[tuple[str, str], ...] = field(default=())  # (label, value)
    tone: str | None = None  # one of TONES
