"""An incident channel's Teams messages on its timeline: posts, edits and deletions.

With the resource-specific consent `ChannelMessage.Read.Group` (in the app's manifest, see
bot/teams/package.py) Teams sends the bot every message of a team's channels, mentioned or not.
Those in an incident's channel (a Graph channel, or the fallback thread) go to
`workflows.incident.capture` exactly as Slack's do; a message's id is
`<conversation id>:<activity id>`, so a redelivered activity counts once.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from workflows.context import Context
from workflows.incident import capture
from workflows.ports import ChatFile, ChatMessage

_FILE = "application/vnd.microsoft.teams.file.download.info"
_LINK = re.compile(r"<a\b[^>]*\bhref=\"([^\"]*)\"[^>]*>(.*?)</a>", re.IGNORECASE | re.DOTALL)
_BREAK = re.compile(r"<br\s*/?>|</p>|</div>|</li>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")
_THREAD = ";messageid="


def capture_activity(ctx: Context, activity: Mapping[str, Any]) -> bool:
    """Record a channel message, edit or deletion of an incident channel; False when the
    activity is none of those or not in an incident's channel (or seen before)."""
    kind = activity.get("type")
    if kind not in ("message", "messageUpdate", "messageDelete", "messageSoftDelete"):
        return False
    if (activity.get("from") or {}).get("role") == "bot":
        return False
    channel = _incident_channel(ctx, activity)
    conversation = str((activity.get("conversation") or {}).get("id") or "")
    activity_id = str(activity.get("id") or "")
    if channel is None or not activity_id:
        return False
    message_id = f"{conversation}:{activity_id}"
    if kind in ("messageDelete", "messageSoftDelete"):
        return capture.record_deletion(ctx, channel=channel, message_id=message_id)
    text = activity_text(activity)
    author = str((activity.get("from") or {}).get("aadObjectId") or "")
    if kind == "messageUpdate":
        return capture.record_edit(ctx, channel=channel, message_id=message_id, text=text,
                                   editor=author or None)
    if not author:
        return False
    message = ChatMessage(message_id=message_id, author=author, text=text,
                          at=_timestamp(activity.get("timestamp")) or ctx.now(),
                          files=_files(activity))
    return capture.record_chat_message(ctx, channel=channel, message=message)


def activity_text(activity: Mapping[str, Any]) -> str:
    """What the person wrote: the bot's own mention removed, other mentions as `@Name`, links
    as `[label](url)`, Teams' HTML as plain lines."""
    text = str(activity.get("text") or "")
    bot = str((activity.get("recipient") or {}).get("id") or "")
    for entity in activity.get("entities") or []:
        if entity.get("type") != "mention" or not entity.get("text"):
            continue
        mentioned = entity.get("mentioned") or {}
        spoken = "" if mentioned.get("id") == bot else "@" + str(mentioned.get("name") or "")
        text = text.replace(str(entity["text"]), spoken)
    text = _LINK.sub(lambda m: _link(m.group(1), _TAG.sub("", m.group(2))), text)
    text = _TAG.sub("", _BREAK.sub("\n", text))
    lines = (" ".join(line.split()) for line in html.unescape(text).splitlines())
    return "\n".join(line for line in lines if line).strip()


def _link(url: str, label: str) -> str:
    url, label = html.unescape(url), html.unescape(label).strip()
    return url if not label or label == url else f"[{label}]({url})"


def _incident_channel(ctx: Context, activity: Mapping[str, Any]) -> str | None:
    """The incident channel the activity was posted in: the thread itself (a fallback thread),
    or the Teams channel it belongs to."""
    conversation = str((activity.get("conversation") or {}).get("id") or "")
    channel = str(((activity.get("channelData") or {}).get("channel") or {}).get("id") or "")
    candidates = [c for c in (conversation, channel, conversation.partition(_THREAD)[0]) if c]
    if not candidates:
        return None
    with ctx.reading() as uow:
        for candidate in dict.fromkeys(candidates):
            if uow.incidents.incident_by_channel(candidate) is not None:
                return candidate
    return None


def _files(activity: Mapping[str, Any]) -> tuple[ChatFile, ...]:
    return tuple(
        ChatFile(name=str(a.get("name") or "file"), url=str(a.get("contentUrl") or ""))
        for a in activity.get("attachments") or [] if a.get("contentType") == _FILE
    )


def _timestamp(raw: Any) -> datetime | None:
    try:
        at = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        return None
    return at if at.tzinfo else at.replace(tzinfo=UTC)
