"""In-memory fakes of the chat, pager and ticket ports: they record what the workflows asked for."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from workflows.model import Incident, Page
from workflows.ports import ChatMessage, ExternalServiceError, HistoryPage, Message


@dataclass
class RecordingChat:
    channels: dict[str, str] = field(default_factory=dict)  # id -> name
    posts: list[tuple[str, Message]] = field(default_factory=list)
    directs: list[tuple[str, Message]] = field(default_factory=list)
    invites: list[tuple[str, list[str]]] = field(default_factory=list)
    topics: dict[str, str] = field(default_factory=dict)

    def create_channel(self, *, name: str, private: bool) -> str:
        channel = f"C{len(self.channels) + 1:04d}"
        self.channels[channel] = name
        return channel

    def invite(self, *, channel: str, people: list[str]) -> None:
        self.invites.append((channel, list(people)))

    def channel_link(self, channel: str) -> str:
        return f"<#{channel}>"

    def channel_url(self, channel: str) -> str | None:
        return f"https://chat.example/{channel}"

    def set_topic(self, *, channel: str, topic: str) -> None:
        self.topics[channel] = topic

    def post(self, *, channel: str, message: Message) -> str:
        self.posts.append((channel, message))
        return str(len(self.posts))

    def send_direct(self, *, person: str, message: Message) -> str:
        self.directs.append((person, message))
        return str(len(self.directs))

    def texts(self) -> list[str]:
        return [message.text for _, message in self.posts]


@dataclass
class RecordingPager:
    channels: frozenset[str] = frozenset({"chat", "sms", "voice"})
    sent: list[tuple[str, str, int]] = field(default_factory=list)  # (person, channel, incident)
    fail_for: set[str] = field(default_factory=set)
    texts: list[str] = field(default_factory=list)  # each page's words, in order

    def send_page(self, *, page: Page, incident: Incident, message: Message) -> str:
        if page.person in self.fail_for:
            raise ExternalServiceError(f"cannot reach {page.person}", retryable=False)
        assert incident.id is not None
        self.sent.append((page.person, page.channel, incident.id))
        self.texts.append(message.text)
        return f"ref-{len(self.sent)}"

    def people(self) -> list[str]:
        return [person for person, _, _ in self.sent]


@dataclass
class HistoryChat(RecordingChat):
    """RecordingChat plus `ChannelHistory` (pages of `page_size`) and `FileUpload`."""

    messages: dict[str, list[ChatMessage]] = field(default_factory=dict)
    page_size: int = 2
    history_calls: list[str | None] = field(default_factory=list)
    uploads: list[tuple[str, str, str]] = field(default_factory=list)  # channel, filename, text

    def history(self, *, channel: str, cursor: str | None, oldest: datetime | None) -> HistoryPage:
        self.history_calls.append(cursor)
        # Newest first, like Slack's conversations.history.
        found = sorted((m for m in self.messages.get(channel, []) if oldest is None or m.at >= oldest),
                       key=lambda m: m.at, reverse=True)
        start = int(cursor or 0)
        page = found[start : start + self.page_size]
        following = start + self.page_size
        return HistoryPage(tuple(page), str(following) if following < len(found) else None)

    def upload(self, *, channel: str, filename: str, title: str, content: str) -> str:
        self.uploads.append((channel, filename, content))
        return f"F{len(self.uploads)}"


@dataclass
class RecordingTickets:
    opened: list[tuple[str, int, str]] = field(default_factory=list)  # (key, incident id, body)
    updates: list[tuple[str, str, str]] = field(default_factory=list)  # (key, state, comment)

    def open_ticket(self, *, incident: Incident, body: str) -> str:
        assert incident.id is not None
        key = f"OPS-{len(self.opened) + 1}"
        self.opened.append((key, incident.id, body))
        return key

    def update_ticket(self, *, ticket: str, incident: Incident, comment: str) -> None:
        self.updates.append((ticket, incident.state.value, comment))
