"""The chat and pager ports over Teams: the Bot Connector for messages, Microsoft Graph for
channels (bot/teams/graph.py), Adaptive Cards for everything people read (bot/teams/cards.py).

Catalog people become Entra object ids here (`teams:` in the catalog). A channel id is a Teams
channel's conversation id (`19:…@thread.tacv2`), or, when Graph is off or refuses to make a
channel, a thread in the team's `teams_channel` (`19:…@thread.tacv2;messageid=…`), which then
serves as the incident's channel. A message id is `<conversation id>:<activity id>`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import quote, urlencode

from bot.teams import cards
from bot.teams.connector import BotConnector
from bot.teams.graph import Graph, GraphError
from storage.teams_store import PERSONAL, ConversationRef, UserRef
from workflows.catalog.model import Catalog, Person
from workflows.clock import SystemClock
from workflows.model import Incident, Page, State
from workflows.ports import Clock, ExternalServiceError, Message, Store

CARD = "application/vnd.microsoft.card.adaptive"
_CHANNEL_NAME_LIMIT = 50  # Teams' limit on a channel's display name
_DESCRIPTION_LIMIT = 1024
_NAME_ATTEMPTS = 20
_THREAD = ";messageid="
# workflows/model.py `channel_name`: `inc-<yyyymmdd>-<incident id>-<slug>` (or `drill-…`)
_INCIDENT_IN_NAME = re.compile(r"^(?:inc|drill)-\d{8}-(\d+)")


class References(Protocol):
    """The conversation references Teams gave us (storage/teams_store.py `SqlTeamsStore`)."""

    def conversation(self, conversation_id: str) -> ConversationRef | None: ...
    def user(self, aad_object_id: str) -> UserRef | None: ...
    def remember(self, conversation: ConversationRef, *, user: str | None, now: datetime
                 ) -> None: ...


def card_activity(card: dict[str, Any], *, summary: str = "") -> dict[str, Any]:
    """A message activity carrying one Adaptive Card (`summary`: the notification's words)."""
    activity: dict[str, Any] = {"type": "message",
                                "attachments": [{"contentType": CARD, "content": card}]}
    if summary:
        activity["summary"] = summary[:200]
    return activity


def _summary(text: str) -> str:
    return next((line.strip() for line in cards.to_teams(text).splitlines() if line.strip()), "")


def _split(message_id: str) -> tuple[str, str]:
    conversation, _, activity = message_id.rpartition(":")
    return conversation, activity


class TeamsChat:
    """`ChatPort` (and `KeyedPosting`, `ChannelLookup`, `Bookmarks`) over the Bot Connector
    and Graph."""

    def __init__(
        self,
        connector: BotConnector,
        *,
        references: References,
        catalog: Catalog,
        store: Store,
        tenant_id: str,
        app_id: str,
        graph: Graph | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.connector = connector
        self.references = references
        self.catalog = catalog
        self.store = store  # to find the incident (and so its team) behind a channel's name
        self.tenant_id = tenant_id
        self.app_id = app_id  # the manifest's id: what Graph installs for a person
        self.graph = graph
        self.clock = clock or SystemClock()
        self._names: dict[str, str] = {}  # channel id -> display name, as we made them
        self._private: dict[str, bool] = {}

    # people -------------------------------------------------------------------------------
    def teams_id(self, person: str) -> str | None:
        """The Entra object id of a catalog person (or `person` itself if it is one)."""
        found: Person | None
        try:
            found = self.catalog.person(person)
        except LookupError:
            found = self.catalog.person_by_chat_id(person)
        if found is not None:
            return found.teams
        return person if re.fullmatch(r"[0-9a-fA-F-]{36}", person) else None

    def _name(self, person: str) -> str:
        try:
            return self.catalog.person(person).name
        except LookupError:
            return person

    # where to send --------------------------------------------------------------------------
    def _service_url(self, conversation: str) -> str:
        """The Bot Connector address of a conversation: its own reference, else the one of a
        channel of the same team Teams has written to us from."""
        candidates = [conversation, conversation.partition(_THREAD)[0],
                      *(team.teams_channel for team in self.catalog.teams if team.teams_channel)]
        for candidate in candidates:
            ref = self.references.conversation(candidate)
            if ref is not None:
                return ref.service_url
        raise ExternalServiceError(
            "Teams has sent Firebell nothing from this team yet, so there is no address to "
            "write to: add the Firebell app to the team", retryable=False)

    def _send(self, conversation: str, card: dict[str, Any], text: str) -> str:
        activity_id = self.connector.send(self._service_url(conversation), conversation,
                                          card_activity(card, summary=_summary(text)))
        return f"{conversation}:{activity_id}"

    # ChatPort --------------------------------------------------------------------------------
    def create_channel(self, *, name: str, private: bool) -> str:
        """A Graph channel in the team (private for security and privacy incidents); if Graph is
        off or refuses, a thread in the incident team's `teams_channel` that says why."""
        incident = self._incident_named(name)
        if self.graph is None:
            return self._thread(name, incident, "Microsoft Graph is not configured "
                                "(TEAMS_TEAM_ID and the app's Graph permissions)")
        owner = self._owner(incident) if private else None
        base = name[:_CHANNEL_NAME_LIMIT]
        try:
            for attempt in range(1, _NAME_ATTEMPTS + 1):
                suffix = "" if attempt == 1 else f"-{attempt}"
                candidate = base[: _CHANNEL_NAME_LIMIT - len(suffix)] + suffix
                try:
                    made = self.graph.create_channel(
                        name=candidate, private=private, owner=owner,
                        description=incident.title if incident else "")
                except GraphError as error:
                    if error.status == 409 or "exist" in str(error).lower():
                        continue  # the name is taken
                    raise
                self._names[made.id], self._private[made.id] = made.name, made.private
                return made.id
        except ExternalServiceError as error:
            if error.retryable:
                raise
            return self._thread(name, incident, str(error))
        return self._thread(name, incident, f"{base} … {base}-{_NAME_ATTEMPTS} are taken")

    def _thread(self, name: str, incident: Incident | None, why: str) -> str:
        """The fallback channel: a new thread in the team's channel, opening with why."""
        team_channel = self._team_channel(incident)
        if team_channel is None:
            raise ExternalServiceError(
                f"cannot make a Teams channel for {name} ({why}), and its team names no "
                "`teams_channel` in the catalog to start a thread in", retryable=False)
        words = (f"**{name}**: Firebell could not create a Teams channel for this incident "
                 f"({why}). This thread is the incident's channel: reply here.")
        card = cards.message_card(text=words)
        conversation, _ = self.connector.create_channel_thread(
            self._service_url(team_channel), team_channel, card_activity(card, summary=name))
        self._names[conversation] = name
        return conversation

    def _incident_named(self, name: str) -> Incident | None:
        match = _INCIDENT_IN_NAME.match(name)
        if match is None:
            return None
        with self.store.transaction(reading=True) as tx:
            return tx.incidents_by_id([int(match.group(1))]).get(int(match.group(1)))

    def _team_channel(self, incident: Incident | None) -> str | None:
        if incident is not None:
            try:
                return self.catalog.team(incident.team).teams_channel
            except LookupError:
                pass
        return next((t.teams_channel for t in self.catalog.teams if t.teams_channel), None)

    def _owner(self, incident: Incident | None) -> str | None:
        """Who owns a private channel: the commander, else whoever declared it (by Teams id)."""
        if incident is None:
            return None
        for person in (incident.commander, incident.declared_by):
            if person and (aad := self.teams_id(person)):
                return aad
        return None

    def invite(self, *, channel: str, people: list[str]) -> None:
        """Graph: members of a private channel, members of the team for a standard one (which
        opens its standard channels). A fallback thread has no members: nothing to do."""
        if self.graph is None or _THREAD in channel:
            return
        ids = {person: self.teams_id(person) for person in people}
        private = self._is_private(channel)
        for aad in sorted({aad for aad in ids.values() if aad}):
            if private:
                self.graph.add_channel_member(channel, aad)
            else:
                self.graph.add_team_member(aad)
        unknown = sorted(person for person, aad in ids.items() if aad is None)
        if unknown:
            raise ExternalServiceError(
                f"cannot add {', '.join(unknown)} in Teams: no `teams:` id in the catalog",
                retryable=False)

    def _is_private(self, channel: str) -> bool:
        if channel not in self._private and self.graph is not None:
            self._private[channel] = self.graph.channel(channel).private
        return self._private.get(channel, False)

    def set_topic(self, *, channel: str, topic: str) -> None:
        """The channel's description (Teams has no topic); a fallback thread has none."""
        if self.graph is None or _THREAD in channel:
            return
        self.graph.update_description(channel, cards.to_teams(topic)[:_DESCRIPTION_LIMIT])

    # Bookmarks -------------------------------------------------------------------------------
    def set_bookmark(self, *, channel: str, title: str, url: str) -> None:
        """`Bookmarks`: the channel's Website tab `title` opens `url`, pointed there if it is
        already pinned (a retry, or a new bridge), pinned if not; a fallback thread has no tabs."""
        if self.graph is None or _THREAD in channel:
            return
        mine = next((tab for tab in self.graph.website_tabs(channel)
                     if tab.get("displayName") == title), None)
        if mine is None:
            self.graph.add_website_tab(channel, name=title, url=url)
        elif (mine.get("configuration") or {}).get("contentUrl") != url:
            self.graph.point_website_tab(channel, str(mine["id"]), url=url)

    def channel_url(self, channel: str) -> str | None:
        base, _, message = channel.partition(_THREAD)
        query = {"tenantId": self.tenant_id}
        if self.graph is not None:
            query["groupId"] = self.graph.team_id
        if message:
            return (f"https://teams.microsoft.com/l/message/{quote(base, safe='')}/{message}?"
                    + urlencode({**query, "parentMessageId": message}))
        name = self._names.get(channel) or "incident"
        return (f"https://teams.microsoft.com/l/channel/{quote(channel, safe='')}/"
                f"{quote(name, safe='')}?" + urlencode(query))

    def channel_link(self, channel: str) -> str:
        """A markdown link (what a TextBlock and a Teams message render, and the timeline keeps)."""
        return f"[{self._names.get(channel) or 'incident channel'}]({self.channel_url(channel)})"

    def post(self, *, channel: str, message: Message) -> str:
        return self._send(channel, self._card(message), message.text)

    def _card(self, message: Message, *, key: str | None = None) -> dict[str, Any]:
        return cards.message_card(
            text=message.text, buttons=[(b.action, b.label, b.value) for b in message.buttons],
            links=list(message.links), key=key, title=message.title, fields=message.fields,
            tone=message.tone)

    # MessageUpdates ------------------------------------------------------------------------------
    def update(self, *, ref: str, message: Message) -> None:
        """Replace a card this bot posted (`conversation:activity`, as `post` returned it)."""
        conversation, activity_id = _split(ref)
        self.connector.update(self._service_url(conversation), conversation, activity_id,
                              card_activity(self._card(message), summary=_summary(message.text)))

    def reply(self, *, ref: str, message: Message) -> str:
        """Post in the thread of a channel message: Teams threads a channel's replies under
        the message whose id ends the conversation id (`;messageid=`)."""
        conversation, activity_id = _split(ref)
        thread = f"{conversation.partition(_THREAD)[0]}{_THREAD}{activity_id}"
        return self._send(thread, self._card(message), message.text)

    def send_direct(self, *, person: str, message: Message) -> str:
        conversation, activity_id, _ = self.direct(person, self._card(message), message.text)
        return f"{conversation}:{activity_id}"

    def direct(self, person: str, card: dict[str, Any], text: str) -> tuple[str, str, str]:
        """Send `card` in the bot's 1:1 chat with `person`: (conversation, activity id, the
        service URL). A person the bot never met gets the app installed first, when Graph can."""
        aad = self.teams_id(person)
        if aad is None:
            raise ExternalServiceError(
                f"{person} has no Teams id: add `teams: <Entra object id>` to them in the catalog",
                retryable=False)
        ref = self.references.user(aad)
        if ref is not None and ref.personal_conversation_id:
            service_url, conversation = ref.service_url, ref.personal_conversation_id
        else:
            service_url = ref.service_url if ref is not None else self._any_service_url(person)
            if ref is None:
                self._install(person, aad)
            conversation = self.connector.create_personal_conversation(
                service_url, self.tenant_id, aad)
            # The service URL is one a stored (signed) reference gave us, so it may be stored.
            self.references.remember(
                ConversationRef(conversation, service_url, self.tenant_id, PERSONAL),
                user=aad, now=self.clock.now())
        activity_id = self.connector.send(service_url, conversation,
                                          card_activity(card, summary=_summary(text)))
        return conversation, activity_id, service_url

    def _not_installed(self, person: str, why: str) -> ExternalServiceError:
        return ExternalServiceError(f"{self._name(person)} has not installed Firebell in Teams "
                                    f"({why})", retryable=False)

    def _any_service_url(self, person: str) -> str:
        try:
            return self._service_url("")
        except ExternalServiceError as error:
            raise self._not_installed(person, str(error)) from error

    def _install(self, person: str, aad: str) -> None:
        if self.graph is None:
            raise self._not_installed(person, "Firebell cannot install it for them without "
                                      "Microsoft Graph")
        try:
            self.graph.install_for_user(user_id=aad, app_id=self.app_id)
        except ExternalServiceError as error:
            if error.retryable:
                raise
            raise self._not_installed(person, f"installing it failed: {error}") from error

    # KeyedPosting -------------------------------------------------------------------------------
    def post_keyed(self, *, channel: str, message: Message, key: str) -> str:
        """A post whose card carries `key` (its first block's id), so a retry can find it."""
        return self._send(channel, self._card(message, key=key), message.text)

    def find_posted(self, *, channel: str, key: str, since: datetime) -> str | None:
        """Our post stamped with `key` since `since`, read back through Graph (the Bot Connector
        cannot read a channel). Without Graph nothing can be found: the retry posts again."""
        if self.graph is None:
            return None
        base, _, thread = channel.partition(_THREAD)
        stamp = cards.key_id(key)
        oldest = since - timedelta(seconds=5)  # Teams' clock may run a little behind ours
        for raw in self.graph.channel_messages(base, thread=thread or None):
            if _created(raw) < oldest:
                return None
            if any(stamp in str(a.get("content") or "") for a in raw.get("attachments") or []):
                return f"{channel}:{raw['id']}"
        return None

    # ChannelLookup ------------------------------------------------------------------------------
    def find_channel(self, *, name: str) -> str | None:
        if self.graph is None:
            return None
        found = self.graph.find_channel(name[:_CHANNEL_NAME_LIMIT])
        if found is None:
            return None
        self._names[found.id], self._private[found.id] = found.name, found.private
        return found.id


def _created(raw: dict[str, Any]) -> datetime:
    text = str(raw.get("createdDateTime") or "1970-01-01T00:00:00Z")
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class TeamsPager:
    """`PagerPort` for the `chat` channel: a 1:1 card with Acknowledge, updated in place after
    the acknowledgement. A page's ref is `<conversation id>:<activity id>`."""

    channels: frozenset[str] = frozenset({"chat"})

    def __init__(self, chat: TeamsChat) -> None:
        self.chat = chat

    def send_page(self, *, page: Page, incident: Incident, message: Message) -> str:
        card = self.card(incident, message.text, person=page.person, links=message.links)
        conversation, activity_id, _ = self.chat.direct(page.person, card, message.text)
        return f"{conversation}:{activity_id}"

    def card(self, incident: Incident, text: str, *, person: str,
             links: Sequence[tuple[str, str]] = ()) -> dict[str, Any]:
        aad = self.chat.teams_id(person)
        by = self.chat._name(incident.acknowledged_by) if incident.acknowledged_by else None
        settled = None if incident.state == State.TRIGGERED else incident.state.value.capitalize()
        return cards.page_card(incident_ref=incident.ref, incident_id=incident.id or 0,
                               title=incident.title, text=text, acknowledged_by=by,
                               user_ids=[aad] if aad else [], settled=settled, links=links)

    def acknowledged(self, pages: Iterable[Page], *, incident: Incident, text: str) -> None:
        """Replace the cards of `pages` (sent by this pager) with the acknowledged card, so no
        Acknowledge button stays live. A card that cannot be updated refreshes itself when
        next shown (its `refresh` action)."""
        failed: list[ExternalServiceError] = []
        for page in pages:
            if page.channel not in self.channels or not page.ref or ":" not in page.ref:
                continue
            conversation, activity_id = _split(page.ref)
            ref = self.chat.references.conversation(conversation)
            aad = self.chat.teams_id(page.person)
            user = self.chat.references.user(aad) if aad else None
            service_url = ref.service_url if ref else user.service_url if user else None
            if service_url is None:
                continue
            card = self.card(incident, text, person=page.person)
            try:
                self.chat.connector.update(service_url, conversation, activity_id,
                                           card_activity(card))
            except ExternalServiceError as error:  # the others are still worth updating
                failed.append(error)
        if failed:
            raise failed[0]
