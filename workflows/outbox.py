"""Effects as records: what a step owes the outside world, written in the step's own transaction.

A workflow never calls a chat, a pager or a tracker itself. It appends an `Effect` (a kind, the
incident, a JSON payload and an idempotency key) to its unit of work; the unit writes it as a row
in the same transaction as the state change that owes it. The dispatcher (`workflows.dispatch`)
claims each row under a lease, performs it and marks it done. A crash before the commit loses
both the change and its effects; a crash after it loses nothing: the rows are still pending.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from workflows.message import Button, Message


class EffectKind(StrEnum):
    CREATE_CHANNEL = "create_channel"  # the incident's channel; then its id is on the incident
    POST = "post"  # to a named channel, or (no channel) the incident's, else its team's
    DIRECT = "direct"  # a direct message to one person (chat id)
    INVITE = "invite"  # people (person ids or chat ids) into the incident's channel
    TOPIC = "topic"  # the incident's channel topic, rendered when it is performed
    PAGE = "page"  # deliver one page row
    OPEN_TICKET = "open_ticket"
    UPDATE_TICKET = "update_ticket"
    UPLOAD = "upload"  # a text file into a channel (the postmortem draft)
    USER_GROUP = "user_group"  # set a chat user group's members (`@payments-oncall`)
    SETTLE_PAGES = "settle_pages"  # sent page messages replaced: no live Acknowledge button
    CARD = "card"  # the incident's live card: posted and pinned once, then edited in place
    ANNOUNCE = "announce"  # the incident's message in the announcements channel, kept current
    HOME = "home"  # the App Home of the people an incident concerns, published again
    EMAIL = "email"  # one email (a stakeholder update, a notice) to people or addresses
    STATUS_PAGE = "status_page"  # the public status page (Atlassian Statuspage) brought up to date
    EDIT = "edit"  # a message posted by an earlier effect (found by its key) replaced
    BOOKMARK = "bookmark"  # the incident's bridge link as a bookmark of its channel


# How long a claim holds an effect: longer than one attempt with all its retries can take
# (Twilio's 5 tries of 10 s plus backoff take at most ~58 s; Slack's client gives up after 30 s),
# so nobody takes an effect over while its first attempt may still be talking to the vendor.
LEASE_SECONDS: dict[str, float] = {kind.value: 90.0 for kind in EffectKind}
LEASE_SECONDS[EffectKind.PAGE.value] = 150.0

# Chat housekeeping reads in the order things happened; pages and tickets stand alone.
_UNORDERED = frozenset({EffectKind.PAGE, EffectKind.OPEN_TICKET, EffectKind.SETTLE_PAGES,
                        EffectKind.HOME, EffectKind.EMAIL, EffectKind.EDIT})


@dataclass(frozen=True)
class Effect:
    """One thing owed to the outside world. `key` makes writing it twice a no-op."""

    kind: EffectKind
    incident_id: int | None
    payload: dict[str, Any] = field(default_factory=dict)
    key: str | None = None  # None: a fresh key is made when it is written
    not_before: datetime | None = None  # a delayed page: not performed before then

    @property
    def ordered(self) -> bool:
        return self.kind not in _UNORDERED

    @property
    def what(self) -> str:
        return self.kind.value.replace("_", " ")


@dataclass(frozen=True)
class ClaimedEffect:
    """A pending effect this process holds under a lease until `lease_until`."""

    id: int
    key: str
    kind: EffectKind
    incident_id: int | None
    payload: dict[str, Any]
    attempts: int  # 1 on the first try; more means an earlier try may have reached the vendor
    created_at: datetime
    not_before: datetime
    lease_until: datetime


def message_payload(message: Message) -> dict[str, Any]:
    return {
        "text": message.text,
        "buttons": [[b.action, b.label, b.value, b.style] for b in message.buttons],
        "links": [[label, url] for label, url in message.links],
        "title": message.title,
        "fields": [[label, value] for label, value in message.fields],
        "tone": message.tone,
    }


def message_from(payload: dict[str, Any]) -> Message:
    return Message(
        text=str(payload.get("text", "")),
        buttons=tuple(Button(a, label, value, style) for a, label, value, style in
                      payload.get("buttons", [])),
        links=tuple((str(label), str(url)) for label, url in payload.get("links", [])),
        title=payload.get("title"),
        fields=tuple((str(label), str(value)) for label, value in payload.get("fields", [])),
        tone=payload.get("tone"),
    )
