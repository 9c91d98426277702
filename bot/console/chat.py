"""The chat and pager ports as terminal text: every post, topic, invite and page is one printed line.

Nothing leaves the machine. Lines carry the (possibly simulated) time of the clock they are given,
in the catalog's time zone, so that an accelerated demo reads like a real channel.
"""

from __future__ import annotations

import re
import sys
from datetime import UTC
from typing import TextIO
from zoneinfo import ZoneInfo

from workflows.catalog.model import Catalog
from workflows.clock import SystemClock
from workflows.model import Incident, Page
from workflows.ports import Button, Clock, ExternalServiceError, Message

# The templates write Slack's emoji short codes; a terminal shows the characters themselves.
_EMOJI = {
    "white_check_mark": "✅", "arrow_up": "⬆️", "warning": "⚠️", "hourglass": "⏳",
    "large_green_circle": "🟢", "lock": "🔒", "adhesive_bandage": "🩹", "bust_in_silhouette": "👤",
    "pager": "📟", "label": "🏷️", "repeat": "🔁", "rotating_light": "🚨", "memo": "📝",
}  # fmt: skip
_SHORT_CODE = re.compile(r":([a-z0-9_+-]+):")
_STAMP_WIDTH = len("[00:00:00] ")


def emojize(text: str) -> str:
    """`:lock:` -> 🔒 for the short codes Firebell's templates use; others stay as written."""
    return _SHORT_CODE.sub(lambda m: _EMOJI.get(m.group(1), m.group(0)), text)


def button_hint(button: Button) -> str:
    """What to type instead of pressing a button: `[Acknowledge: /incident ack 1]`."""
    return f"[{button.label}: /incident {button.action} {button.value}]"


class ConsoleWriter:
    """Writes time-stamped lines to a stream; continuation lines are indented under the first."""

    def __init__(
        self, clock: Clock | None = None, *, stream: TextIO | None = None, zone: str = "UTC"
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self._stream = stream
        self.zone = ZoneInfo(zone)

    @property
    def stream(self) -> TextIO:
        # Looked up at write time, so that a caller (or pytest) that swaps sys.stdout sees the text.
        return self._stream or sys.stdout

    def use_zone(self, zone: str) -> None:
        self.zone = ZoneInfo(zone)

    def stamp(self) -> str:
        return f"[{self.clock.now().astimezone(UTC).astimezone(self.zone):%H:%M:%S}]"

    def line(self, text: str) -> None:
        first, *rest = emojize(text).splitlines() or [""]
        out = [f"{self.stamp()} {first}"] + [" " * _STAMP_WIDTH + line for line in rest]
        self.stream.write("\n".join(out) + "\n")
        self.stream.flush()


def _message_text(message: Message) -> str:
    """The message's words, then any link not already in them, then its buttons as commands."""
    lines = [message.text]
    lines += [f"{label}: {url}" for label, url in message.links if url not in message.text]
    if message.buttons:
        lines.append("  ".join(button_hint(b) for b in message.buttons))
    return "\n".join(lines)


def _name(catalog: Catalog | None, person: str) -> str:
    if catalog is None:
        return person
    try:
        return catalog.person(person).name
    except LookupError:
        return person


class _ConsolePort:
    """What the console chat and pager share: lines on the clock's time, names from the catalog."""

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        stream: TextIO | None = None,
        catalog: Catalog | None = None,
        zone: str | None = None,
    ) -> None:
        self.out = ConsoleWriter(
            clock, stream=stream, zone=zone or (catalog.timezone if catalog else "UTC")
        )
        self.catalog = catalog

    def attach(self, catalog: Catalog) -> None:
        """Learn names, phones and the time zone from a catalog loaded after construction."""
        self.catalog = catalog
        self.out.use_zone(catalog.timezone)


class ConsoleChat(_ConsolePort):
    """The chat port on a terminal: channels are names such as `#inc-20261124-checkout-down`."""

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        stream: TextIO | None = None,
        catalog: Catalog | None = None,
        zone: str | None = None,
        bot_name: str = "firebell",
    ) -> None:
        super().__init__(clock, stream=stream, catalog=catalog, zone=zone)
        self.bot_name = bot_name
        self.channels: dict[str, bool] = {}  # name -> private
        self.topics: dict[str, str] = {}
        self.members: dict[str, list[str]] = {}
        self._messages = 0

    def reserve(self, channels: list[str]) -> None:
        """Channels that exist already (incidents of an earlier session): new ones get other names."""
        for channel in channels:
            self.channels.setdefault(channel, False)

    def create_channel(self, *, name: str, private: bool) -> str:
        channel, n = f"#{name}", 1
        while channel in self.channels:
            n += 1
            channel = f"#{name}-{n}"
        self.channels[channel] = private
        self.members[channel] = []
        kind = "private channel" if private else "channel"
        self.out.line(f"── {kind} {channel} created ──")
        return channel

    def invite(self, *, channel: str, people: list[str]) -> None:
        new = [p for p in people if p not in self.members.setdefault(channel, [])]
        if not new:
            return
        self.members[channel] += new
        names = ", ".join(_name(self.catalog, p) for p in new)
        self.out.line(f"{channel}  → {names} joined")

    def channel_link(self, channel: str) -> str:
        return channel if channel.startswith("#") else f"#{channel}"

    def channel_url(self, channel: str) -> str | None:
        return None

    def set_topic(self, *, channel: str, topic: str) -> None:
        if self.topics.get(channel) == topic:
            return
        self.topics[channel] = topic
        self.out.line(f"{channel}  topic: {topic}")

    def post(self, *, channel: str, message: Message) -> str:
        self.out.line(f"{channel}  {self.bot_name}: {_message_text(message)}")
        return self._next_id()

    def send_direct(self, *, person: str, message: Message) -> str:
        self.out.line(f"💬 DM to {_name(self.catalog, person)}: {_message_text(message)}")
        return self._next_id()

    def _next_id(self) -> str:
        self._messages += 1
        return f"console-{self._messages}"


class ConsolePager(_ConsolePort):
    """The pager port in-process: prints the SMS, call or chat DM a person would get.

    Serves the `chat`, `sms` and `voice` channels; map each of them to one instance.
    """

    channels: frozenset[str] = frozenset({"chat", "sms", "voice"})

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        stream: TextIO | None = None,
        catalog: Catalog | None = None,
        zone: str | None = None,
    ) -> None:
        super().__init__(clock, stream=stream, catalog=catalog, zone=zone)
        self.sent: list[tuple[str, str, int | None]] = []  # (person, channel, incident id)

    def send_page(self, *, page: Page, incident: Incident, message: Message) -> str:
        name, phone = page.person, None
        if self.catalog is not None:
            try:
                person = self.catalog.person(page.person)
                name, phone = person.name, person.phone
            except LookupError:
                pass
        if page.channel in ("sms", "voice") and self.catalog is not None and phone is None:
            raise ExternalServiceError(
                f"{name} has no phone number in the catalog", retryable=False
            )
        one_line = " ".join(message.text.split())
        to = f"{name} ({phone})" if phone else name
        if page.channel == "sms":
            self.out.line(f"📟 SMS to {to}: {one_line} Reply ACK {incident.id}.")
        elif page.channel == "voice":
            self.out.line(f"📞 call to {to}: “{one_line} Press 1 to acknowledge.”")
        else:
            self.out.line(f"💬 DM to {name}: {_message_text(message)}")
        self.sent.append((page.person, page.channel, incident.id))
        return f"console-{page.channel}-{len(self.sent)}"
