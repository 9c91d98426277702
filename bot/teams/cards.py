"""Adaptive Cards (schema 1.5) for Teams: pages, messages and the declaration form, and the way
back from a pressed button to the words a person would type. (The command table's other forms,
bot/forms.py, are rendered by bot/teams/forms.py.)

Words come from templates (`workflows/render.py`); this module only turns them into card JSON.
Every button and form is a Universal Action (`Action.Execute`): Teams sends it to the bot as an
`adaptiveCard/action` invoke with the `verb` and `data` below, and `read_form` turns that into
the same command line a person types (`incident declare service=checkout ...`, `incident status
7`: a button of a command with a form opens that form), so a card adds no process rule of its
own: the command table (`bot/command_table.py`) does the rest.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from workflows.ports import InvalidRequest

Card = dict[str, Any]

SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
VERSION = "1.5"
REFRESH_VERB = "refresh"  # a stale page card asks the bot for its current state
ENVIRONMENTS = ("production", "staging", "development")
URGENCIES = ("high", "low")
DECLARE_FLAGS = (
    ("drill", "Drill (practice; pages by chat only)"),
    ("security", "Security incident (private channel)"),
    ("privacy", "Personal data involved (privacy: starts its notification clocks, private channel)"),
    ("compliance", "Compliance incident (starts its notification clocks)"),
)
_ONCALL_VERBS = ("take",)  # buttons whose command is `/oncall`, not `/incident`
_REFRESH_USERS = 60  # Teams refreshes a card automatically for at most 60 listed users
_TITLE_LIMIT = 150


# text ---------------------------------------------------------------------------------------
# Emoji short-codes the templates use, as the characters Teams shows (an unknown one stays text).
EMOJI = {
    "warning": "\u26a0\ufe0f", "rotating_light": "\U0001f6a8", "white_check_mark": "\u2705",
    "repeat": "\U0001f501", "memo": "\U0001f4dd", "hourglass": "\u231b",
    "arrows_counterclockwise": "\U0001f504", "stopwatch": "\u23f1\ufe0f", "pager": "\U0001f4df",
    "ticket": "\U0001f3ab", "tada": "\U0001f389", "sos": "\U0001f198", "lock": "\U0001f512",
    "link": "\U0001f517", "large_green_circle": "\U0001f7e2", "label": "\U0001f3f7\ufe0f",
    "handshake": "\U0001f91d", "construction": "\U0001f6a7", "bust_in_silhouette": "\U0001f464",
    "arrow_up": "\u2b06\ufe0f", "arrow_double_up": "\u23eb", "alarm_clock": "\u23f0",
    "adhesive_bandage": "\U0001fa79", "red_circle": "\U0001f534", "fire": "\U0001f525",
    "eyes": "\U0001f440", "bell": "\U0001f514", "x": "\u274c", "heavy_check_mark": "\u2714\ufe0f",
}  # fmt: skip
_EMOJI = re.compile(r":([a-z][a-z0-9_+-]*):")
_SLACK_LINK = re.compile(r"<(https?://[^|<>\s]+)(?:\|([^<>]*))?>")
_BOLD = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_CODE = re.compile(r"`([^`\n]+)`")
_HTML_LINK = re.compile(r"<a\s+href=\"([^\"]+)\">([^<]*)</a>", re.IGNORECASE)


def to_teams(text: str) -> str:
    """Firebell's words (plain, with the few Slack-flavoured marks templates use) as the
    markdown an Adaptive Card's TextBlock renders: `*bold*` -> `**bold**`, `<url|label>` and
    `<a href>` -> `[label](url)`, `:emoji:` -> the emoji, `` `code` `` -> the words (a TextBlock
    has no code style). `[label](url)` links are markdown already."""
    text = _SLACK_LINK.sub(lambda m: f"[{m.group(2) or m.group(1)}]({m.group(1)})", text)
    text = _HTML_LINK.sub(lambda m: f"[{m.group(2) or m.group(1)}]({m.group(1)})", text)
    text = _CODE.sub(r"\1", text)
    text = _BOLD.sub(r"**\1**", text)
    return _EMOJI.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), text)


def text_blocks(text: str) -> list[Card]:
    """One wrapping TextBlock per line (Teams drops single line breaks inside a TextBlock); a
    blank line becomes space before the next block."""
    blocks: list[Card] = []
    gap = False
    for line in to_teams(text).splitlines():
        if not line.strip():
            gap = bool(blocks)
            continue
        block: Card = {"type": "TextBlock", "text": line, "wrap": True}
        if blocks:
            block["spacing"] = "Medium" if gap else "None"
        blocks.append(block)
        gap = False
    return blocks or [{"type": "TextBlock", "text": " ", "wrap": True}]


# cards ----------------------------------------------------------------------------------------
def adaptive_card(body: list[Card], actions: Sequence[Card] = (), *,
                  refresh: Card | None = None) -> Card:
    card: Card = {"type": "AdaptiveCard", "$schema": SCHEMA, "version": VERSION, "body": body}
    if actions:
        card["actions"] = list(actions)
    if refresh is not None:
        card["refresh"] = refresh
    return card


def execute(verb: str, title: str, data: Mapping[str, Any], *, style: str | None = None) -> Card:
    """A Universal Action button."""
    action: Card = {"type": "Action.Execute", "verb": verb, "title": title, "data": dict(data)}
    if style in ("positive", "destructive"):
        action["style"] = style
    return action


def page_card(
    *,
    incident_ref: str,
    incident_id: int,
    title: str,
    text: str,
    acknowledged_by: str | None,
    user_ids: Sequence[str] = (),
    settled: str | None = None,
    links: Sequence[tuple[str, str]] = (),
) -> Card:
    """A page: its words and an Acknowledge button. While it is not acknowledged the card asks
    Teams to refresh it (for `user_ids`, the paged people's Entra ids) whenever it is shown, so
    a card someone else acknowledged meanwhile never keeps a live button; once acknowledged it
    has no button, only who acknowledged it."""
    body: list[Card] = [
        {"type": "TextBlock", "text": f"{incident_ref}: {to_teams(title)}", "weight": "Bolder",
         "size": "Medium", "wrap": True},
        *text_blocks(text),
    ]
    data = {"incident": incident_id}
    if acknowledged_by or settled:
        # Acknowledged, or settled without an ack (resolved at its source): no button left.
        line = f"Acknowledged by {acknowledged_by}" if acknowledged_by else str(settled)
        body.append({"type": "TextBlock", "text": f"\u2705 {line}",
                     "wrap": True, "color": "Good", "spacing": "Medium"})
        return adaptive_card(body)
    refresh: Card = {"action": {"type": "Action.Execute", "verb": REFRESH_VERB, "data": data}}
    if user_ids:
        refresh["userIds"] = list(dict.fromkeys(user_ids))[:_REFRESH_USERS]
    actions = [execute("ack", "Acknowledge", data, style="positive"),
               execute("pass", "Escalate", data), execute("snooze", "Snooze 5m", data)]
    actions += [{"type": "Action.OpenUrl", "title": label, "url": url} for label, url in links]
    return adaptive_card(body, actions, refresh=refresh)


# A message's tone as the style of the container around its heading (Adaptive Cards 1.2+).
TONE_STYLES = {"critical": "attention", "warning": "warning", "good": "good", "info": "accent"}


def message_card(
    *,
    text: str,
    buttons: Iterable[tuple[str, str, str]] = (),
    links: Iterable[tuple[str, str]] = (),
    key: str | None = None,
    title: str | None = None,
    fields: Iterable[tuple[str, str]] = (),
    tone: str | None = None,
) -> Card:
    """A message: its title as a heading in a container styled by its tone, its fields as a
    FactSet, its words as TextBlocks, its buttons (verb, label, value) as Universal Actions
    whose data is `{"value": value}`, its links (label, url) as `Action.OpenUrl`.

    `key` (an outbox effect's key) is kept as the first block's `id`, where a retry can find it
    in the channel's messages (`TeamsChat.find_posted`)."""
    body: list[Card] = []
    if title:
        container: Card = {"type": "Container", "items": [heading(to_teams(title))]}
        if tone in TONE_STYLES:
            container["style"] = TONE_STYLES[tone]
        body.append(container)
    facts = [{"title": label, "value": to_teams(value)} for label, value in fields]
    if facts:
        body.append({"type": "FactSet", "facts": facts})
    if text.strip() or not body:
        body += text_blocks(text)
    if key:
        body[0]["id"] = key_id(key)
    actions = [execute(verb, label, {"value": value}) for verb, label, value in buttons]
    actions += [{"type": "Action.OpenUrl", "title": label, "url": url} for label, url in links]
    return adaptive_card(body, actions)


def key_id(key: str) -> str:
    return f"firebell-key:{key}"


def heading(text: str) -> Card:
    return {"type": "TextBlock", "text": text, "weight": "Bolder", "size": "Medium", "wrap": True}


def _choices(options: Iterable[tuple[str, str]]) -> list[Card]:
    return [{"title": label[:75], "value": value} for label, value in options]


def _choice_set(
    input_id: str, label: str, options: Iterable[tuple[str, str]], value: str | None = None,
    *, required: bool = True,
) -> Card:
    element: Card = {"type": "Input.ChoiceSet", "id": input_id, "label": label,
                     "style": "compact", "isRequired": required, "choices": _choices(options),
                     "errorMessage": f"Choose a {label.lower()}"}
    if value is not None:
        element["value"] = value
    return element


def declare_form(
    *,
    services: Iterable[tuple[str, str]],  # (name, id)
    severities: Iterable[str],
    title: str = "",
    drill: bool = False,
    service: str | None = None,
) -> Card:
    """The declaration form (Slack's modal): submitted with verb `declare`."""
    title_input: Card = {"type": "Input.Text", "id": "title", "label": "Title",
                         "isRequired": True, "maxLength": _TITLE_LIMIT,
                         "errorMessage": "Give the incident a title"}
    if title:
        title_input["value"] = title[:_TITLE_LIMIT]
    toggles = [{"type": "Input.Toggle", "id": flag, "title": label, "valueOn": "true",
                "valueOff": "false", "value": "true" if flag == "drill" and drill else "false"}
               for flag, label in DECLARE_FLAGS]
    body: list[Card] = [
        heading("Declare an incident"),
        title_input,
        _choice_set("service", "Service", services, service),
        _choice_set("severity", "Severity", ((s.capitalize(), s) for s in severities)),
        _choice_set("urgency", "Urgency", ((u.capitalize(), u) for u in URGENCIES), "high"),
        _choice_set("environment", "Environment", ((e.capitalize(), e) for e in ENVIRONMENTS),
                    "production"),
        {"type": "Input.Text", "id": "description", "label": "What is happening?",
         "isMultiline": True, "isRequired": False},
        *toggles,
    ]
    return adaptive_card(body, [execute("declare", "Declare", {}, style="positive")])


# and back ---------------------------------------------------------------------------------------
def read_form(verb: str, data: Mapping[str, Any]) -> str:
    """A submitted card (`verb`, and `data`: the action's data merged with the inputs' values,
    as Teams sends them) as the command line a person would type: `incident declare
    service=checkout severity=critical urgency=high environment=production security 'Checkout
    down'`, `incident ack 42`, `oncall take 3`. Every value is quoted, so nothing typed into a
    field can become another option or word; the command table checks the rest."""
    value = _reader(data)
    if verb == "declare":
        words = [f"{key}={value(key)}" for key in ("service", "severity", "urgency", "environment")
                 if value(key)]
        if value("description"):
            words.append(f"description={value('description')}")
        words += [flag for flag, _ in DECLARE_FLAGS if _on(data.get(flag))]
        if value("title"):
            words.append(value("title"))
        return _line("incident", "declare", words)
    incident = value("incident") or value("value")
    if not re.fullmatch(r"[a-z][a-z_]*", verb):
        raise InvalidRequest(f"this card's action '{verb[:40]}' is not one Firebell knows")
    command = "oncall" if verb in _ONCALL_VERBS else "incident"
    return _line(command, verb, [incident])


def _reader(data: Mapping[str, Any]) -> Any:
    def value(key: str) -> str:
        raw = data.get(key)
        return "" if raw is None else str(raw).strip()

    return value


def _on(raw: Any) -> bool:
    return raw is True or str(raw).lower() in ("true", "1", "yes")


def _line(command: str, sub: str, words: Sequence[str]) -> str:
    return " ".join([command, sub, *(shlex.quote(w) if _needs_quotes(w) else w
                                     for w in words if w and w != "@")])


def _needs_quotes(word: str) -> bool:
    return not re.fullmatch(r"[\w@.:/+=,-]+", word)
