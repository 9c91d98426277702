"""The complete chat timeline of an incident: messages with links and files, edits, deletions,
pins, key moments, and a backfill from the channel's history for what was missed.

A chat message's `source_id` is its platform id (`<channel>:<ts>` on Slack), so a redelivered
event, a backfilled message and a live one are the same timeline event.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from workflows.context import Context, record
from workflows.followup.model import FollowUpRecords
from workflows.model import Incident, TimelineEvent
from workflows.ports import ChannelHistory, ChatMessage, ExternalServiceError
from workflows.unit import Unit

_SLACK_LINK = re.compile(r"<(https?://[^|>\s]+)(?:\|[^>]*)?>")
_MARKDOWN_LINK = re.compile(r"\[[^\[\]\n]*\]\((https?://[^\s()]+)\)")  # how bot/ stores a link
_PLAIN_LINK = re.compile(r"(?<![<|])\bhttps?://[^\s<>|]+")
_MAX_PAGES = 1000  # 200 messages a page: far more than any incident channel


def links_in(text: str) -> list[str]:
    """URLs in a message, as `[label](url)`, in Slack's `<url|label>` form or plain, each once,
    in order."""
    found = _MARKDOWN_LINK.findall(text) + _SLACK_LINK.findall(text)
    rest = _SLACK_LINK.sub(" ", _MARKDOWN_LINK.sub(" ", text))
    found += _PLAIN_LINK.findall(rest)
    return list(dict.fromkeys(url.rstrip(".,;)") for url in found))


def record_chat_message(ctx: Context, *, channel: str, message: ChatMessage) -> bool:
    """A live message in an incident channel; False if not an incident channel or seen before."""
    if message.from_bot:
        return False
    with ctx.unit() as uow:
        incident = uow.incidents.incident_by_channel(channel)
        if incident is None:
            return False
        return _append(ctx, uow, incident, message, at=ctx.now())


def record_edit(
    ctx: Context, *, channel: str, message_id: str, text: str, editor: str | None = None
) -> bool:
    """An edited message: the timeline shows the new text and keeps the earlier ones in `history`."""
    with ctx.unit() as uow:
        found = _message_in(uow, channel=channel, message_id=message_id)
        if found is None:
            return False
        incident, records, event = found
        if event is None:  # sent while we were not listening: keep what it says now
            return record(
                uow, incident, kind="message", at=ctx.now(), actor=_actor(ctx, editor),
                text=text, data=_message_data(text, ()) | {"edited": True}, source_id=message_id,
            )
        if event.data.get("deleted"):  # Slack edits a deleted thread root's tombstone too
            return False
        _revise(ctx, records, event, text)
        return True


def record_deletion(ctx: Context, *, channel: str, message_id: str) -> bool:
    """A deleted message stays on the timeline as "deleted", without its words.

    People delete what should not have been posted (a password, a customer's data), so the text
    and its earlier versions go too, and so do the words a pin or a key moment quoted from it.
    """
    with ctx.unit() as uow:
        found = _message_in(uow, channel=channel, message_id=message_id)
        if found is None:
            return False
        incident, records, event = found
        if event is None:
            return False
        event.text = ""
        event.data = {**event.data, "deleted": True, "deleted_at": ctx.now().isoformat(),
                      "history": [], "links": [], "files": []}
        records.update_event(event)
        for kind in ("pinned", "key_moment"):
            quoting = records.event_by_source(_id(incident), f"{kind}:{message_id}")
            if quoting is not None and quoting.text:
                quoting.text = ""
                records.update_event(quoting)
        return True


def record_pin(ctx: Context, *, channel: str, message_id: str, actor: str | None) -> bool:
    """A pinned message is marked and gets a "pinned" event of its own (once)."""
    return _highlight(ctx, channel=channel, message_id=message_id, actor=actor, kind="pinned",
                      flag="pinned")


def record_reaction(
    ctx: Context, *, channel: str, message_id: str, reaction: str, actor: str | None
) -> bool:
    """The catalog's key-moment reaction (`postmortem.key_moment_reaction`) marks a key moment."""
    chosen = ctx.catalog.postmortem.key_moment_reaction.strip(":")
    if reaction.strip(":") != chosen:
        return False
    return _highlight(ctx, channel=channel, message_id=message_id, actor=actor,
                      kind="key_moment", flag="key_moment")


def backfill(ctx: Context, *, incident_id: int, history: ChannelHistory) -> int:
    """Read the channel's whole history, page by page, and add what the timeline lacks.

    Returns how many messages were added. Edits made while we were away are taken too.
    """
    with ctx.unit() as uow:
        incident = uow.incidents.get_incident(incident_id)
    if not incident.channel:
        return 0
    oldest = incident.declared_at - timedelta(minutes=5)
    cursor: str | None = None
    added = 0
    for _ in range(_MAX_PAGES):
        page = history.history(channel=incident.channel, cursor=cursor, oldest=oldest)
        with ctx.unit() as uow:
            records = uow.followups
            for message in sorted(page.messages, key=lambda m: m.at):
                if message.from_bot:
                    continue
                existing = records.event_by_source(incident_id, message.message_id)
                if existing is None:
                    added += _append(ctx, uow, incident, message, at=message.at, backfilled=True)
                elif message.edited and not existing.data.get("deleted") and (
                    existing.text != message.text
                ):
                    _revise(ctx, records, existing, message.text)
        if not page.next_cursor:
            return added
        cursor = page.next_cursor
    raise ExternalServiceError(
        f"channel history of {incident.ref} did not end after {_MAX_PAGES} pages", retryable=False
    )


# helpers -------------------------------------------------------------------------
def _append(
    ctx: Context, uow: Unit, incident: Incident, message: ChatMessage, *, at: Any,
    backfilled: bool = False,
) -> bool:
    data = _message_data(message.text, message.files)
    if backfilled:
        data["backfilled"] = True
    if message.edited:
        data["edited"] = True
    return record(uow, incident, kind="message", at=at, actor=_actor(ctx, message.author),
                  text=message.text, data=data, source_id=message.message_id)


def _message_data(text: str, files: tuple[Any, ...]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if links := links_in(text):
        data["links"] = links
    if files:
        data["files"] = [{"name": f.name, "url": f.url, "title": f.title or f.name} for f in files]
    return data


def _revise(ctx: Context, records: FollowUpRecords, event: TimelineEvent, text: str) -> None:
    if event.text == text:
        return
    history = [*event.data.get("history", []),
               {"text": event.text, "until": ctx.now().isoformat()}]
    event.data = {**event.data, "history": history, "edited": True,
                  "edited_at": ctx.now().isoformat(), "links": links_in(text)}
    event.text = text
    records.update_event(event)


def _highlight(
    ctx: Context, *, channel: str, message_id: str, actor: str | None, kind: str, flag: str
) -> bool:
    with ctx.unit() as uow:
        found = _message_in(uow, channel=channel, message_id=message_id)
        if found is None:
            return False
        incident, records, event = found
        quoted = ""
        if event is not None:
            if not event.data.get(flag):
                event.data = {**event.data, flag: True}
                records.update_event(event)
            quoted = event.text
        return record(
            uow, incident, kind=kind, at=ctx.now(), actor=_actor(ctx, actor),
            text=quoted[:300], data={"message": message_id}, source_id=f"{kind}:{message_id}",
        )


def _message_in(
    uow: Unit, *, channel: str, message_id: str
) -> tuple[Incident, FollowUpRecords, TimelineEvent | None] | None:
    """The incident of `channel`, its follow-up records and the message's event (None if not
    on the timeline); None if `channel` is no incident's channel."""
    incident = uow.incidents.incident_by_channel(channel)
    if incident is None:
        return None
    records = uow.followups
    return incident, records, records.event_by_source(_id(incident), message_id)


def _actor(ctx: Context, user: str | None) -> str | None:
    """The catalog person for a platform user id, else the id as it is."""
    if not user:
        return None
    person = ctx.catalog.person_by_chat_id(user)
    return person.id if person else user


def _id(incident: Incident) -> int:
    assert incident.id is not None
    return incident.id
