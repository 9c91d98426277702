"""In-memory fakes of the chat and pager ports, for workflow tests."""

from __future__ import annotations

from dataclasses import dataclass, field

from workflows.model import Incident, Page
from workflows.ports import ExternalServiceError, Message


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
