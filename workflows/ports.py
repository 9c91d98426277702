"""The small typed ports through which the incident process talks to the outside world.

`app.py` plugs real adapters into them; tests plug fakes. Nothing here knows a vendor.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from workflows.errors import Conflict as Conflict
from workflows.errors import ExternalServiceError as ExternalServiceError
from workflows.errors import FirebellError as FirebellError
from workflows.errors import InvalidRequest as InvalidRequest
from workflows.errors import NotFound as NotFound
from workflows.errors import SignatureError as SignatureError
from workflows.errors import Unavailable as Unavailable
from workflows.intake.signals import IntakeTransaction
from workflows.message import Button as Button
from workflows.message import Message as Message
from workflows.model import AckFacts, Deadline, DeadlineKind, Incident, Page, TimelineEvent
from workflows.oncall.model import Offer, ScheduleVersion

if TYPE_CHECKING:
    from workflows.followup.model import FollowUpRecords
    from workflows.insight_model import InsightRecords
    from workflows.outbox import ClaimedEffect, Effect


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class ChatPort(Protocol):
    """A chat platform: channels, messages, direct messages."""

    def create_channel(self, *, name: str, private: bool) -> str:
        """Create a channel and return its id. Picks a free name if `name` is taken."""
        ...

    def invite(self, *, channel: str, people: list[str]) -> None:
        """Invite people (by their chat ids) to a channel."""
        ...

    def set_topic(self, *, channel: str, topic: str) -> None: ...

    def channel_link(self, channel: str) -> str:
        """How a message on this platform names a channel so that a click opens it."""
        ...

    def channel_url(self, channel: str) -> str | None:
        """A URL that opens the channel from outside the chat (a ticket, an SMS), if any."""
        ...

    def post(self, *, channel: str, message: Message) -> str:
        """Post to a channel; returns the message id."""
        ...

    def send_direct(self, *, person: str, message: Message) -> str:
        """Send a direct message to a person (chat id); returns the message id."""
        ...


@runtime_checkable
class KeyedPosting(Protocol):
    """Optional chat capability: posts that carry a key, found again by it.

    A post retried after a crash or a lost answer looks for its key first, so a channel never
    reads the same message twice.
    """

    def post_keyed(self, *, channel: str, message: Message, key: str) -> str:
        """Post like `ChatPort.post`, stamping the message with `key`; returns its id."""
        ...

    def find_posted(self, *, channel: str, key: str, since: datetime) -> str | None:
        """The id of a message stamped with `key` posted since `since`, if there is one."""
        ...


@runtime_checkable
class ChannelLookup(Protocol):
    """Optional chat capability: find a channel by its exact name (an earlier attempt made it)."""

    def find_channel(self, *, name: str) -> str | None: ...


@runtime_checkable
class PlatformChats(Protocol):
    """Optional chat capability: several chat platforms at once (Slack and Teams). Each channel
    and message goes to its own platform; an incident's channel is made on the incident's."""

    def chat_for(self, incident: Incident) -> ChatPort:
        """The platform's chat in which `incident`'s channel is made (and looked for)."""
        ...


@runtime_checkable
class MessageUpdates(Protocol):
    """Optional chat capability: edit a message this app posted, and reply in its thread."""

    def update(self, *, ref: str, message: Message) -> None:
        """Replace the message `ref` (as `post` returned it) with `message`."""
        ...

    def reply(self, *, ref: str, message: Message) -> str:
        """Post `message` in the thread of the message `ref`; returns the reply's id."""
        ...


@runtime_checkable
class Pinning(Protocol):
    """Optional chat capability: pin a message."""

    def pin(self, *, channel: str, message_id: str) -> None: ...


@runtime_checkable
class Bookmarks(Protocol):
    """Optional chat capability: a link kept at the top of a channel (Slack's bookmarks)."""

    def set_bookmark(self, *, channel: str, title: str, url: str) -> None:
        """Add the bookmark `title`, or point the one titled so at `url`: doing it again
        changes nothing."""
        ...


class PagerPort(Protocol):
    """Reaches one person through one channel (chat, sms, voice)."""

    channels: frozenset[str]

    def send_page(self, *, page: Page, incident: Incident, message: Message) -> str:
        """Deliver a page; returns the provider's reference. Raises ExternalServiceError."""
        ...


class Mailer(Protocol):
    """Sends email (SMTP): stakeholder updates, notices, the `email` paging channel."""

    def send_email(self, *, to: list[str], subject: str, body: str, message_id: str) -> None:
        """Send one message to `to` (addresses). `message_id` is stable across retries.
        Raises ExternalServiceError."""
        ...


class StatusPagePort(Protocol):
    """A hosted public status page (Atlassian Statuspage) kept in step with public updates."""

    def sync_incident(
        self, *, ref: str | None, tag: str, name: str, status: str, body: str,
        components: dict[str, str], retried: bool = False,
    ) -> str:
        """Create (ref None) or update the status page's incident; returns its id there.
        `tag` (the incident's reference, "INC-7") is part of `name`; `status`: investigating |
        identified | monitoring | resolved; `body`: the update's text; `components`: the status
        page's component id -> operational | degraded_performance | partial_outage |
        major_outage. `retried`: an earlier attempt may have reached the page, so an incident
        found there by `tag` is updated instead of a second one created, and an update it shows
        already is not posted again. Raises ExternalServiceError."""
        ...


class TicketPort(Protocol):
    def open_ticket(self, *, incident: Incident, body: str) -> str:
        """Create a ticket for an incident, or return the one already opened for it (found by
        the incident's label: a retry after a lost answer never opens a second); returns its
        key or URL."""
        ...

    def update_ticket(self, *, ticket: str, incident: Incident, comment: str) -> None: ...


class Timers(Protocol):
    """Wakes the process at a time; the database, not the timer, holds what is due."""

    def wake_at(self, when: datetime) -> None: ...


class Incidents(Protocol):
    """The incidents of one transaction."""

    def add_incident(self, incident: Incident) -> Incident: ...
    def get_incident(self, incident_id: int, *, for_update: bool = False) -> Incident: ...
    def save_incident(self, incident: Incident) -> None: ...
    def incident_by_channel(self, channel: str) -> Incident | None: ...
    def list_incidents(self, *, open_only: bool = True, limit: int = 50) -> list[Incident]: ...
    def incidents_by_id(self, ids: list[int]) -> dict[int, Incident]: ...
    def ack_facts(self, ids: list[int]) -> dict[int, AckFacts]:
        """Drill flag and who acknowledged when, of many incidents, read cheaply."""
        ...


class Timeline(Protocol):
    """The timeline events of one transaction."""

    def append_event(self, event: TimelineEvent) -> bool:
        """Append to the timeline; False when an event with the same source_id is there already."""
        ...

    def events(self, incident_id: int) -> list[TimelineEvent]: ...


class Pages(Protocol):
    """The pages of one transaction."""

    def add_page(self, page: Page) -> Page: ...
    def pages(self, incident_id: int) -> list[Page]: ...
    def save_page(self, page: Page) -> None: ...

    def claim_page(self, page_id: int, *, claimed_at: datetime) -> Page | None:
        """Move a queued page to `sending` (its `sent_at` the attempt's start); None if someone
        else took it or it was cancelled."""
        ...

    def get_page(self, page_id: int) -> Page: ...

    def finish_page(self, page: Page) -> bool:
        """Write a page this attempt holds (`sending`, claimed at `page.sent_at`'s attempt) whole,
        in one statement; False when it is no longer `sending` (acknowledged or settled meanwhile)."""
        ...

    def attempts(self, page: Page) -> int:
        """How many times `page.person` was paged through `page.channel` for its incident, up to
        and including `page`."""
        ...

    def page_by_ref(self, ref: str) -> Page | None: ...

    def in_doubt(self, *, person: str, channel: str) -> list[Page]:
        """The person's pages by `channel` still `sending`, in the order they were claimed."""
        ...

    def pages_between(self, *, start: datetime, end: datetime) -> list[Page]:
        """Pages created in [start, end), oldest first."""
        ...


class Deadlines(Protocol):
    """The deadlines of one transaction."""

    def schedule(self, deadline: Deadline) -> Deadline: ...

    def cancel_deadlines(self, *, incident_id: int, kinds: tuple[DeadlineKind, ...]) -> int: ...

    def claim_due(self, *, now: datetime) -> Deadline | None:
        """Lock one due deadline (skipping ones others hold) and mark it done in this transaction.

        If the transaction rolls back, the deadline is due again: acted on exactly once.
        """
        ...

    def pending_deadlines(self, incident_id: int) -> list[Deadline]: ...

    def next_due_at(self) -> datetime | None:
        """The earliest pending deadline, delayed page or effect to retry."""
        ...


class Outbox(Protocol):
    """The effect rows of one transaction (workflows/outbox.py)."""

    def add_effects(self, effects: list[tuple[str, Effect]], *, now: datetime) -> int:
        """Write (key, effect) pairs in this transaction; a key written before is skipped.
        Returns how many were given."""
        ...

    def claim_effects(
        self, *, now: datetime, owner: str, limit: int, lease_seconds: dict[str, float]
    ) -> list[ClaimedEffect]:
        """Lease up to `limit` due effects that no one holds: independent ones, and the earliest
        pending ordered effect of each incident (a channel reads in the order things happened)."""
        ...

    def finish_effect(
        self, effect_id: int, *, owner: str, status: str, at: datetime, result: str | None = None,
        error: str | None = None,
    ) -> bool:
        """Mark a held effect `done` or `failed`; False when the lease was lost meanwhile."""
        ...

    def finish_effects(self, done: list[tuple[int, str | None]], *, owner: str, at: datetime) -> int:
        """Mark held effects `done` with their results, in one statement sent as a batch."""
        ...

    def retry_effect(self, effect_id: int, *, owner: str, at: datetime, error: str) -> bool:
        """Give a held effect back, due again at `at` (a retryable failure)."""
        ...

    def release_effects(self, *, owner: str, at: datetime, ids: list[int]) -> int:
        """Give back effects `owner` holds but never started (a graceful stop): due at once."""
        ...

    def lease_owners(self, *, prefix: str, now: datetime) -> list[str]:
        """Owners whose name starts with `prefix` that hold a lease on a pending effect."""
        ...

    def shorten_leases(self, *, owner: str, until: datetime) -> int:
        """Make every lease `owner` holds end at `until` at the latest (its process is gone)."""
        ...

    def pending_effects(self, *, incident_id: int | None = None) -> list[ClaimedEffect]:
        """Effects not done yet (all incidents when None), oldest first."""
        ...

    def effect_outcome(self, key: str) -> tuple[str, str | None] | None:
        """(status, result) of the effect written with `key` (a post's message id), if any."""
        ...


class Posts(Protocol):
    """Messages an incident keeps current (its live card, its announcement): where they are."""

    def post_ref(self, incident_id: int, purpose: str) -> str | None:
        """The platform's id of the incident's message for `purpose`, once it was posted."""
        ...

    def keep_post(self, incident_id: int, purpose: str, ref: str, *, at: datetime) -> bool:
        """Remember where that message is; False (and nothing changed) if one is known already."""
        ...


class Subscriptions(Protocol):
    """People following an incident (`kind` "incident") or a service's updates ("service")."""

    def subscribe(self, *, kind: str, target: str, person: str, at: datetime) -> bool:
        """False when they follow it already."""
        ...

    def unsubscribe(self, *, kind: str, target: str, person: str) -> bool:
        """False when they did not follow it."""
        ...

    def subscribers(self, *, kind: str, target: str) -> list[str]:
        """Who follows it, in the order they subscribed."""
        ...

    def subscriptions_of(self, person: str) -> list[tuple[str, str]]:
        """(kind, target) of everything `person` follows."""
        ...


class Transaction(Incidents, Timeline, Pages, Deadlines, Outbox, Posts, Subscriptions, Protocol):
    """One atomic unit of work against the store: every repository over one transaction."""

    def savepoint(self) -> AbstractContextManager[None]:
        """A nested transaction: what is done inside is undone alone if it raises."""
        ...

    def intake(self) -> IntakeTransaction:
        """Alerts, groups and signals, in this same transaction."""
        ...

    def followups(self) -> FollowUpRecords:
        """Postmortems and action items, in this same transaction."""
        ...

    def insights(self) -> InsightRecords:
        """The reads behind the insights and the incident listing, in this same transaction."""
        ...


class Store(Protocol):
    def transaction(self, *, reading: bool = False) -> AbstractContextManager[Transaction]:
        """One transaction; `reading`: it only reads (it may then run beside a writer)."""
        ...


class ScheduleStore(Protocol):
    """Schedule versions, shift offers and handoff notices; each call is its own transaction."""

    def latest_versions(self) -> dict[str, ScheduleVersion]:
        """The newest version of every schedule that has one."""
        ...

    def versions(self, schedule: str, *, limit: int = 20) -> list[ScheduleVersion]:
        """Newest first."""
        ...

    def add_version(self, version: ScheduleVersion, *, after: int | None) -> ScheduleVersion | None:
        """Store `version` as number `after + 1` (1 when `after` is None).

        None when another writer added that number first: read the newest again and retry.
        """
        ...

    def add_offer(self, offer: Offer) -> Offer: ...
    def get_offer(self, offer_id: int) -> Offer: ...

    def take_offer(self, offer_id: int, *, person: str, at: datetime) -> Offer | None:
        """Mark the offer taken by `person`; None when someone else took it first."""
        ...

    def claim_handoff(self, *, schedule: str, at: datetime) -> bool:
        """True once per (schedule, handoff time): the caller sends that handoff's notices."""
        ...


@runtime_checkable
class UserGroups(Protocol):
    """Optional chat capability: set the members of a user group (Slack `@payments-oncall`)."""

    def set_user_group(self, *, group: str, people: list[str]) -> None:
        """Make `people` (chat ids) the group's members."""
        ...


@dataclass(frozen=True)
class ChatFile:
    """A file shared in a channel: its name and where people open it."""

    name: str
    url: str
    title: str = ""


@dataclass(frozen=True)
class ChatMessage:
    """A message as the platform reports it (live or read back from history)."""

    message_id: str  # "<channel>:<ts>" on Slack: the timeline's source_id
    author: str  # the platform's user id
    text: str
    at: datetime
    files: tuple[ChatFile, ...] = ()
    edited: bool = False
    from_bot: bool = False  # posted by an app (Firebell itself): already on the timeline


@dataclass(frozen=True)
class HistoryPage:
    messages: tuple[ChatMessage, ...]
    next_cursor: str | None = None  # None: this was the last page


@runtime_checkable
class ChannelHistory(Protocol):
    """Optional chat capability: read a channel's past messages, a page at a time."""

    def history(self, *, channel: str, cursor: str | None, oldest: datetime | None) -> HistoryPage:
        """One page of messages (any order); pass `next_cursor` back for the next page."""
        ...


@runtime_checkable
class FileUpload(Protocol):
    """Optional chat capability: share a text file (a postmortem draft) in a channel."""

    def upload(self, *, channel: str, filename: str, title: str, content: str) -> str:
        """Upload `content` as `filename`; returns the file's id or link."""
        ...


# Tickets: the tracker's own webhooks (issue 5) ------------------------------------------------
@dataclass(frozen=True)
class TicketChange:
    """A change a person made to a ticket in the tracker, read from the tracker's webhook."""

    system: str  # "jira", "github"
    delivery_id: str  # the tracker's id of this delivery: a redelivery counts once
    ticket: str  # the key `open_ticket` returned ("OPS-12", "acme/ops#7")
    actor: str | None
    by_bot: bool  # made by Firebell itself: nothing to do
    status: str | None = None  # "done" or "open" when the ticket was closed or reopened
    priority: str | None = None  # "P1".."P4" when the priority changed


@runtime_checkable
class TicketWebhooks(Protocol):
    """Optional ticket capability: verify and read the tracker's webhooks."""

    system: str

    def read_webhook(self, *, headers: dict[str, str], body: bytes) -> TicketChange | None:
        """Verify the signature (raises SignatureError) and read the change; None: not ours."""
        ...
