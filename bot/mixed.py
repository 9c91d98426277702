"""Slack and Teams at once: one chat port and one chat pager over both (a mixed organisation).

A channel belongs to the platform that made it, and its id says which: Teams' conversation ids
carry a colon (`19:…@thread.tacv2`, `a:…`), Slack's never do (`C…`, `G…`, `D…`). So posts,
topics, invites and links go where the channel lives, and nothing has to be remembered.

An incident's channel is made on the platform it was declared from; an alert's or a report's
on its team's: Teams for a team that names only a `teams_channel`, Slack otherwise (the same rule
says where a team's notices go). A person is reached on every platform where the catalog gives
them an identity (`slack:`, `teams:`): a page to someone with both is one page, delivered on
both, and since acknowledgements are the incident's, acknowledging on either stops it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

from bot.slack.chat import SlackChat, SlackPager
from bot.teams.chat import TeamsChat, TeamsPager
from workflows.catalog.model import Catalog, Team
from workflows.catalog.sections import Announcements
from workflows.home import Home
from workflows.model import Incident, Page
from workflows.ports import ChatPort, ExternalServiceError, HistoryPage, Message, MessageUpdates

log = logging.getLogger(__name__)

SLACK, TEAMS = "slack", "teams"  # the platforms' names: `Incident.platform`, page refs


def platform_of(channel: str) -> str:
    """The platform a channel (or conversation) id belongs to."""
    return TEAMS if ":" in channel else SLACK


def team_platform(team: Team | Announcements) -> str:
    """Where a team lives: Teams when it names only a `teams_channel`, else Slack."""
    return TEAMS if team.teams_channel and not team.slack_channel else SLACK


def _all_failed(failures: list[ExternalServiceError]) -> ExternalServiceError:
    """One error for a delivery no platform took: worth a retry if any platform's is."""
    return ExternalServiceError("; ".join(str(e) for e in failures),
                                retryable=any(e.retryable for e in failures))


class MixedChat:
    """`ChatPort` over Slack and Teams (and `PlatformChats`, `KeyedPosting`, `Pinning`,
    `UserGroups`, `ChannelHistory`, `FileUpload`, `HomePages`, each where the channel's
    platform has it)."""

    def __init__(self, slack: SlackChat, teams: TeamsChat, *, catalog: Catalog) -> None:
        self.slack = slack
        self.teams = teams
        self.catalog = catalog

    def _on(self, channel: str) -> SlackChat | TeamsChat:
        return self.teams if platform_of(channel) == TEAMS else self.slack

    # where things live ----------------------------------------------------------------------
    def platform_for(self, incident: Incident) -> str:
        """Where an incident's channel is made: where it was declared, else its team's."""
        if incident.platform in (SLACK, TEAMS):
            return incident.platform
        try:
            return team_platform(self.catalog.team(incident.team))
        except LookupError:
            return SLACK

    def chat_for(self, incident: Incident) -> ChatPort:
        """`PlatformChats`: the chat in which `incident`'s channel is made."""
        return self.teams if self.platform_for(incident) == TEAMS else self.slack

    def team_channel(self, team: Team | Announcements) -> str | None:
        """Where a team's notices go (`Context.team_channel`): on the team's platform."""
        return team.teams_channel if team_platform(team) == TEAMS else team.slack_channel

    def platforms_of(self, person: str) -> list[str]:
        """The platforms where `person` (a catalog id or a chat id) has an identity. Teams
        first: a page whose Slack message is found after a crash went to Teams before it."""
        platforms = [platform for platform, chat_id in ((TEAMS, self.teams.teams_id(person)),
                                                        (SLACK, self.slack.slack_id(person)))
                     if chat_id]
        if not platforms:
            raise ExternalServiceError(
                f"{person} has neither a Slack nor a Teams id: add `slack: U…` or "
                "`teams: <Entra object id>` to them in the catalog", retryable=False)
        return platforms

    # ChatPort --------------------------------------------------------------------------------
    def create_channel(self, *, name: str, private: bool) -> str:
        """A channel that belongs to no incident (the dispatcher asks `chat_for`): on Slack."""
        return self.slack.create_channel(name=name, private=private)

    def invite(self, *, channel: str, people: list[str]) -> None:
        self._on(channel).invite(channel=channel, people=people)

    def set_topic(self, *, channel: str, topic: str) -> None:
        self._on(channel).set_topic(channel=channel, topic=topic)

    def channel_link(self, channel: str) -> str:
        return self._on(channel).channel_link(channel)

    def channel_url(self, channel: str) -> str | None:
        return self._on(channel).channel_url(channel)

    def post(self, *, channel: str, message: Message) -> str:
        return self._on(channel).post(channel=channel, message=message)

    def send_direct(self, *, person: str, message: Message) -> str:
        """On every platform where the person has an identity; sent if any platform took it
        (a retry would send the others' again), failed only if none did."""
        sent: list[str] = []
        failed: list[ExternalServiceError] = []
        for platform in self.platforms_of(person):
            chat = self.teams if platform == TEAMS else self.slack
            try:
                sent.append(chat.send_direct(person=person, message=message))
            except ExternalServiceError as error:
                failed.append(error)
        if not sent:
            raise _all_failed(failed)
        for failure in failed:  # the person has the message on the other platform
            log.warning("a direct message to %s reached only one platform: %s", person, failure)
        return sent[0]

    # KeyedPosting ------------------------------------------------------------------------------
    def post_keyed(self, *, channel: str, message: Message, key: str) -> str:
        return self._on(channel).post_keyed(channel=channel, message=message, key=key)

    def find_posted(self, *, channel: str, key: str, since: datetime) -> str | None:
        return self._on(channel).find_posted(channel=channel, key=key, since=since)

    # what only Slack has ----------------------------------------------------------------------
    def update(self, *, ref: str, message: Message) -> None:
        chat = self._on(ref.rpartition(":")[0] if platform_of(ref) == TEAMS else ref)
        if isinstance(chat, MessageUpdates):
            chat.update(ref=ref, message=message)

    def reply(self, *, ref: str, message: Message) -> str:
        chat = self._on(ref.rpartition(":")[0] if platform_of(ref) == TEAMS else ref)
        if not isinstance(chat, MessageUpdates):
            raise ExternalServiceError("this platform has no threads to reply in",
                                       retryable=False)
        return chat.reply(ref=ref, message=message)

    def pin(self, *, channel: str, message_id: str) -> None:
        """`Pinning`: Slack pins; a Teams bot cannot, so a Teams channel keeps it unpinned."""
        if platform_of(channel) == SLACK:
            self.slack.pin(channel=channel, message_id=message_id)

    def publish_home(self, *, person: str, home: Home) -> None:
        """`HomePages`: Slack's App Home; a person only on Teams has none."""
        self.slack.publish_home(person=person, home=home)

    def set_user_group(self, *, group: str, people: list[str]) -> None:
        """`UserGroups`: Slack's; its members are the people who are on Slack."""
        self.slack.set_user_group(group=group,
                                  people=[p for p in people if self.slack.slack_id(p)])

    def history(self, *, channel: str, cursor: str | None, oldest: datetime | None) -> HistoryPage:
        """`ChannelHistory`: Slack's; a Teams channel's messages reach the timeline as they are
        written (bot/teams/capture.py), so there is nothing to read back."""
        if platform_of(channel) == SLACK:
            return self.slack.history(channel=channel, cursor=cursor, oldest=oldest)
        return HistoryPage(messages=())

    def upload(self, *, channel: str, filename: str, title: str, content: str) -> str:
        """`FileUpload`: a file on Slack; in Teams (no files for a bot without SharePoint) the
        content is posted as a message."""
        if platform_of(channel) == SLACK:
            return self.slack.upload(channel=channel, filename=filename, title=title,
                                     content=content)
        return self.teams.post(channel=channel, message=Message(f"**{title}**\n\n{content}"))


class MixedPager:
    """`PagerPort` for the `chat` channel over Slack and Teams: one page, delivered on every
    platform where the person has an identity. Its ref names each delivery,
    `slack=<channel:ts> teams=<conversation:activity>`."""

    channels: frozenset[str] = frozenset({"chat"})

    def __init__(self, chat: MixedChat) -> None:
        self.chat = chat
        self.slack = SlackPager(chat.slack)
        self.teams = TeamsPager(chat.teams)

    def send_page(self, *, page: Page, incident: Incident, message: Message) -> str:
        """Sent if any platform took it (a retry would page the person twice on the other);
        failed, and so failed over to the next channel, only if none did."""
        refs: list[str] = []
        failed: list[ExternalServiceError] = []
        for platform in self.chat.platforms_of(page.person):
            pager = self.teams if platform == TEAMS else self.slack
            try:
                ref = pager.send_page(page=page, incident=incident, message=message)
                refs.append(f"{platform}={ref}")
            except ExternalServiceError as error:
                failed.append(error)
        if not refs:
            raise _all_failed(failed)
        for failure in failed:
            log.warning("the page of %s to %s reached only one platform: %s", incident.ref,
                        page.person, failure)
        return " ".join(refs)

    # PageLookup (workflows/paging/delivery.py) ------------------------------------------------
    def find_sent(self, *, page: Page, since: datetime) -> list[str]:
        """Slack's DMs of this page since `since`: Teams is paged first, so a page found on
        Slack went to Teams before. A person only on Teams gets a page in doubt again."""
        if self.chat.slack.slack_id(page.person) is None:
            return []
        return [f"{SLACK}={ref}" for ref in self.slack.find_sent(page=page, since=since)]

    def shared(self, page: Page, other: Page) -> bool:
        return self.slack.shared(page, other)

    def acknowledged(self, pages: Iterable[Page], *, incident: Incident, text: str) -> None:
        """Replace the page messages of `pages` on both platforms (`TeamsPager`, `SlackPager`)."""
        on_teams = [replace(page, ref=refs[TEAMS]) for page in pages
                    if page.channel in self.channels and TEAMS in (refs := page_refs(page.ref))]
        on_slack = [replace(page, ref=refs[SLACK]) for page in pages
                    if page.channel in self.channels and SLACK in (refs := page_refs(page.ref))]
        self.teams.acknowledged(on_teams, incident=incident, text=text)
        self.slack.acknowledged(on_slack, incident=incident, text=text)


def page_refs(ref: str | None) -> dict[str, str]:
    """The deliveries a `MixedPager` ref names, by platform."""
    found: dict[str, str] = {}
    for part in (ref or "").split():
        platform, _, delivered = part.partition("=")
        if platform in (SLACK, TEAMS) and delivered:
            found[platform] = delivered
    return found
