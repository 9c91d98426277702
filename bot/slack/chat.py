"""The chat and pager ports over Slack's Web API (`slack_sdk.WebClient`).

Catalog person ids become Slack user ids here; Slack errors become `ExternalServiceError`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry import RateLimitErrorRetryHandler, default_retry_handlers

from bot.slack.blocks import ACTION_PREFIX, message_blocks
from bot.slack.home import home_view
from bot.slack.text import PersonOf, decode, neutralise, person_of, slack_user_of, to_slack
from workflows.catalog.model import Catalog, Person
from workflows.home import Home
from workflows.model import Incident, Page
from workflows.ports import (
    ChatFile,
    ChatMessage,
    ExternalServiceError,
    HistoryPage,
    Message,
)

log = logging.getLogger(__name__)

_SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")
# Errors that say "try again later"; every other Slack error needs a person to fix something.
_RETRYABLE = {"ratelimited", "internal_error", "fatal_error", "service_unavailable",
              "request_timeout", "team_added_to_org"}  # fmt: skip
_NAME_ATTEMPTS = 20
_TOPIC_LIMIT = 250
_CHANNEL_NAME_LIMIT = 80

_EFFECT_EVENT = "firebell_effect"  # the metadata event type that carries an effect's key

def _error(what: str, error: Exception) -> ExternalServiceError:
    if isinstance(error, SlackApiError):
        code = str(error.response.get("error", "unknown_error"))
        status = error.response.status_code
        retryable = code in _RETRYABLE or status == 429 or status >= 500
        return ExternalServiceError(f"Slack {what} failed: {code}", retryable=retryable)
    # Not an answer from Slack at all (connection refused, timeout): worth another try.
    return ExternalServiceError(f"Slack {what} failed: {error}", retryable=True)


@contextmanager
def _slack(what: str, *, harmless: Collection[str] = ()) -> Iterator[None]:
    """Translate Slack's errors (but those in `harmless`) into `ExternalServiceError`."""
    try:
        yield
    except SlackApiError as error:
        if _code(error) not in harmless:
            raise _error(what, error) from error
    except (SlackClientError, OSError) as error:  # urllib raises URLError, an OSError
        raise _error(what, error) from error


def slack_message(
    channel: str, raw: Mapping[str, Any], *, person: PersonOf = lambda user: None
) -> ChatMessage:
    """A Slack message (an event's or one read from history) as the timeline sees it: its text
    decoded from Slack's escaping, a mention as `@person` (`person` finds the catalog's)."""
    ts = str(raw.get("ts", "0"))
    files = tuple(
        ChatFile(name=str(f.get("name") or f.get("title") or "file"),
                 url=str(f.get("permalink") or f.get("url_private") or ""),
                 title=str(f.get("title") or ""))
        for f in raw.get("files") or []
    )
    return ChatMessage(
        message_id=f"{channel}:{ts}", author=str(raw.get("user") or raw.get("bot_id") or ""),
        text=decode(str(raw.get("text") or ""), person=person),
        at=datetime.fromtimestamp(float(ts), UTC), files=files,
        edited="edited" in raw, from_bot=bool(raw.get("bot_id")) or raw.get("subtype") == "bot_message",
    )


def web_client(*, token: str, base_url: str) -> WebClient:
    """A Web API client whose 429 answers are retried after Slack's Retry-After."""
    return WebClient(
        token=token,
        base_url=base_url,
        timeout=15,
        retry_handlers=[*default_retry_handlers(), RateLimitErrorRetryHandler(max_retry_count=2)],
    )


def _code(error: SlackApiError) -> str:
    return str(error.response.get("error", ""))


class SlackChat:
    """`ChatPort` (and `Pinning`) over the Slack Web API."""

    def __init__(self, client: WebClient, *, catalog: Catalog,
                 calendar_url: Callable[[str], str | None] = lambda person: None) -> None:
        self.client = client
        self.catalog = catalog
        self.calendar_url = calendar_url  # a person's calendar feed, shown on their home

    @classmethod
    def create(cls, *, token: str, base_url: str, catalog: Catalog,
               calendar_url: Callable[[str], str | None] = lambda person: None) -> SlackChat:
        return cls(web_client(token=token, base_url=base_url), catalog=catalog,
                   calendar_url=calendar_url)

    # person ids -> Slack ids ------------------------------------------------
    def slack_id(self, person: str) -> str | None:
        """The Slack user id of a catalog person, or `person` itself if it is a Slack id."""
        found: Person | None
        try:
            found = self.catalog.person(person)
        except LookupError:
            found = self.catalog.person_by_chat_id(person)
        if found is not None and found.slack:
            return found.slack
        return person if _SLACK_USER.match(person) else None

    def _require_slack_id(self, person: str) -> str:
        user = self.slack_id(person)
        if user is None:
            raise ExternalServiceError(
                f"{person} has no Slack id: add `slack: U...` to them in the catalog", retryable=False
            )
        return user

    # ChatPort ------------------------------------------------------------------
    def create_channel(self, *, name: str, private: bool) -> str:
        base = name[:_CHANNEL_NAME_LIMIT]
        for attempt in range(1, _NAME_ATTEMPTS + 1):
            suffix = "" if attempt == 1 else f"-{attempt}"
            candidate = base[: _CHANNEL_NAME_LIMIT - len(suffix)] + suffix
            try:
                response = self.client.conversations_create(name=candidate, is_private=private)
            except SlackApiError as error:
                if _code(error) == "name_taken":
                    continue
                raise _error("conversations.create", error) from error
            except (SlackClientError, OSError) as error:
                raise _error("conversations.create", error) from error
            return str(response["channel"]["id"])
        raise ExternalServiceError(
            f"Slack conversations.create failed: {base}, {base}-2 … {base}-{_NAME_ATTEMPTS} are taken",
            retryable=False,
        )

    def invite(self, *, channel: str, people: list[str]) -> None:
        users = {person: self.slack_id(person) for person in people}
        known = sorted({user for user in users.values() if user})
        if known:
            with _slack("conversations.invite", harmless={"already_in_channel", "cant_invite_self"}):
                self.client.conversations_invite(
                    channel=channel, users=",".join(known), force=len(known) > 1
                )
        unknown = sorted(person for person, user in users.items() if user is None)
        if unknown:
            raise ExternalServiceError(
                f"cannot invite {', '.join(unknown)}: no Slack id in the catalog", retryable=False
            )

    def channel_link(self, channel: str) -> str:
        return f"#{channel}"  # plain text: `to_slack` makes it a link when it is posted

    def channel_url(self, channel: str) -> str | None:
        return f"https://slack.com/app_redirect?channel={channel}"

    def set_topic(self, *, channel: str, topic: str) -> None:
        with _slack("conversations.setTopic"):
            self.client.conversations_setTopic(channel=channel,
                                               topic=neutralise(topic)[:_TOPIC_LIMIT])

    def post(self, *, channel: str, message: Message) -> str:
        """Posts Block Kit with the plain text as the notification fallback; returns `channel:ts`."""
        with _slack("chat.postMessage"):
            response = self.client.chat_postMessage(
                channel=channel, **self._content(message),
                unfurl_links=False,
            )
        return f"{response['channel']}:{response['ts']}"

    def _content(self, message: Message) -> dict[str, Any]:
        """The one place Firebell's words leave for Slack: the notification `text` and the
        blocks, both escaped once (no `<!channel>` from a title or an alert pings anyone)."""
        slack_user = slack_user_of(self.catalog)
        return {"text": to_slack(message.text, slack_user=slack_user),
                "blocks": message_blocks(message, slack_user=slack_user)}

    # KeyedPosting ----------------------------------------------------------------
    def post_keyed(self, *, channel: str, message: Message, key: str) -> str:
        """A post stamped with `key` in Slack's message metadata, so a retry can find it."""
        with _slack("chat.postMessage"):
            response = self.client.chat_postMessage(
                channel=channel, **self._content(message),
                unfurl_links=False,
                metadata={"event_type": _EFFECT_EVENT, "event_payload": {"key": key}},
            )
        return f"{response['channel']}:{response['ts']}"

    def find_posted(self, *, channel: str, key: str, since: datetime) -> str | None:
        oldest = f"{since.timestamp() - 5:.6f}"  # Slack's clock may run a little behind ours
        cursor = None
        while True:
            with _slack("conversations.history"):
                response = self.client.conversations_history(
                    channel=channel, oldest=oldest, include_all_metadata=True, limit=200,
                    cursor=cursor)
            for raw in response.get("messages") or []:
                payload = (raw.get("metadata") or {}).get("event_payload") or {}
                if payload.get("key") == key:
                    return f"{channel}:{raw['ts']}"
            cursor = (response.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return None

    # ChannelLookup ---------------------------------------------------------------
    def find_channel(self, *, name: str) -> str | None:
        cursor = None
        while True:
            with _slack("conversations.list"):
                response = self.client.conversations_list(
                    types="public_channel,private_channel", exclude_archived=True, limit=1000,
                    cursor=cursor)
            for channel in response.get("channels") or []:
                if channel.get("name") == name[:_CHANNEL_NAME_LIMIT]:
                    return str(channel["id"])
            cursor = (response.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return None

    def update(self, *, ref: str, message: Message) -> None:
        """Replace a message this app posted (`channel:ts`, as `post` returned it)."""
        channel, _, ts = ref.partition(":")
        with _slack("chat.update"):
            self.client.chat_update(channel=channel, ts=ts, **self._content(message))

    def reply(self, *, ref: str, message: Message) -> str:
        """Post in the thread of a message (`channel:ts`); returns the reply's `channel:ts`."""
        channel, _, ts = ref.partition(":")
        with _slack("chat.postMessage"):
            response = self.client.chat_postMessage(
                channel=channel, thread_ts=ts, **self._content(message), unfurl_links=False)
        return f"{response['channel']}:{response['ts']}"

    def send_direct(self, *, person: str, message: Message) -> str:
        user = self._require_slack_id(person)
        with _slack("conversations.open"):
            opened = self.client.conversations_open(users=user)
        return self.post(channel=str(opened["channel"]["id"]), message=message)

    # Pinning -------------------------------------------------------------------
    def pin(self, *, channel: str, message_id: str) -> None:
        timestamp = message_id.rpartition(":")[2]
        with _slack("pins.add", harmless={"already_pinned"}):
            self.client.pins_add(channel=channel, timestamp=timestamp)

    # Bookmarks ------------------------------------------------------------------
    def set_bookmark(self, *, channel: str, title: str, url: str) -> None:
        """The channel's link bookmark `title` points at `url`: edited if it is there (a
        retry or a new bridge), added if not."""
        with _slack("bookmarks.list"):
            listed = self.client.bookmarks_list(channel_id=channel).get("bookmarks") or []
        mine = next((b for b in listed if b.get("title") == title and b.get("type") == "link"), None)
        if mine is None:
            with _slack("bookmarks.add"):
                self.client.bookmarks_add(channel_id=channel, title=title, type="link", link=url)
        elif mine.get("link") != url:
            with _slack("bookmarks.edit"):
                self.client.bookmarks_edit(bookmark_id=str(mine["id"]), channel_id=channel,
                                           link=url)


    # HomePages -------------------------------------------------------------------
    def publish_home(self, *, person: str, home: Home) -> None:
        """The person's App Home (`views.publish`); a person without a Slack id has none."""
        user = self.slack_id(person)
        if user is None:
            return
        view = home_view(home, slack_user=slack_user_of(self.catalog),
                         calendar_url=self.calendar_url(home.person) if home.known else None)
        with _slack("views.publish"):
            self.client.views_publish(user_id=user, view=view)

    # UserGroups -----------------------------------------------------------------
    def set_user_group(self, *, group: str, people: list[str]) -> None:
        """`group` is the user group's id (S0...); an empty group is left as it is (Slack
        refuses a user group without members)."""
        users = sorted({self._require_slack_id(person) for person in people})
        if users:
            with _slack("usergroups.users.update"):
                self.client.usergroups_users_update(usergroup=group, users=users)

    # ChannelHistory ---------------------------------------------------------------
    def history(self, *, channel: str, cursor: str | None, oldest: datetime | None) -> HistoryPage:
        with _slack("conversations.history"):
            response = self.client.conversations_history(
                channel=channel, cursor=cursor, limit=200,
                oldest=f"{oldest.timestamp():.6f}" if oldest else None,
            )
        person = person_of(self.catalog)
        messages = tuple(slack_message(channel, raw, person=person)
                         for raw in response.get("messages") or []
                         # a tombstone is a deleted message whose thread lives on: no words
                         if raw.get("type", "message") == "message"
                         and raw.get("subtype") != "tombstone")
        next_cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
        return HistoryPage(messages=messages, next_cursor=next_cursor)

    # FileUpload -------------------------------------------------------------------
    def upload(self, *, channel: str, filename: str, title: str, content: str) -> str:
        with _slack("files.upload"):
            response = self.client.files_upload_v2(
                channel=channel, filename=filename, title=title, content=content
            )
        uploaded = (response.get("files") or [{}])[0]
        return str(uploaded.get("permalink") or uploaded.get("id") or "")


class SlackPager:
    """`PagerPort` for the `chat` channel: a direct message with an Acknowledge button."""

    channels: frozenset[str] = frozenset({"chat"})

    def __init__(self, chat: SlackChat) -> None:
        self.chat = chat

    def send_page(self, *, page: Page, incident: Incident, message: Message) -> str:
        return self.chat.send_direct(person=page.person, message=message)

    def acknowledged(self, pages: Iterable[Page], *, incident: Incident, text: str) -> None:
        """`PageUpdates`: the page DMs of the incident are edited in place (`chat.update`) to
        say who acknowledged, without the Acknowledge button."""
        failed: list[ExternalServiceError] = []
        for page in pages:
            if page.channel not in self.channels or not page.ref or ":" not in page.ref:
                continue
            try:
                self.chat.update(ref=page.ref, message=Message(text))
            except ExternalServiceError as error:  # the others are still worth editing
                failed.append(error)
        if failed:
            raise failed[0]

    def shared(self, page: Page, other: Page) -> bool:
        # A DM carries its incident's button, not its page.
        return (page.person, page.incident_id, page.channel) == (
            other.person, other.incident_id, other.channel)

    def find_sent(self, *, page: Page, since: datetime) -> list[str]:
        """`PageLookup`: our DMs to the person since `since` that carry this incident's
        Acknowledge button, oldest first (a crash may have cut us off after Slack took one)."""
        user = self.chat._require_slack_id(page.person)
        client = self.chat.client
        with _slack("conversations.open"):
            channel = str(client.conversations_open(users=user)["channel"]["id"])
        found: list[tuple[float, str]] = []
        cursor: str | None = None
        while True:
            with _slack("conversations.history"):
                response = client.conversations_history(
                    channel=channel, cursor=cursor, limit=200, oldest=f"{since.timestamp():.6f}"
                )
            for raw in response.get("messages") or []:
                if raw.get("bot_id") and _has_ack_button(raw, str(page.incident_id)):
                    found.append((float(raw["ts"]), f"{channel}:{raw['ts']}"))
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if cursor is None:
                return [ref for _, ref in sorted(found)]


def _has_ack_button(raw: Mapping[str, Any], incident_id: str) -> bool:
    return any(
        element.get("action_id") == f"{ACTION_PREFIX}ack" and element.get("value") == incident_id
        for block in raw.get("blocks") or [] if block.get("type") == "actions"
        for element in block.get("elements") or []
    )
