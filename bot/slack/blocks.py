"""Block Kit for Firebell's messages and the declaration modal. Words come from templates."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from bot.forms import Choice
from bot.slack.forms import select_element
from bot.slack.text import SlackUserOf, neutralise, to_slack
from workflows.incident.declare import DeclareRequest
from workflows.ports import Message

ACTION_PREFIX = "firebell_"
DECLARE_CALLBACK = "firebell_declare"
SECTION_LIMIT = 3000  # Slack's limit on a section's text
ENVIRONMENTS = ("production", "staging", "development")
URGENCIES = ("high", "low")

Block = dict[str, Any]


# A tone is shown as the header's coloured mark (Block Kit has no colour outside attachments).
TONE_MARKS = {"critical": ":red_circle:", "warning": ":large_orange_circle:",
              "good": ":large_green_circle:", "info": ":large_blue_circle:"}
HEADER_LIMIT = 150  # Slack's limits: a header's text, a field's text, fields per section,
FIELD_LIMIT = 2000  # elements per actions block, characters of a button's label
FIELDS_PER_SECTION = 10
MESSAGE_BLOCKS = 50  # a message's blocks
ACTIONS_LIMIT = 25
BUTTON_LABEL_LIMIT = 75
LINK_ACTION = ACTION_PREFIX + "link"  # a URL button: Slack opens it; the click is only acked


def message_blocks(
    message: Message, *, slack_user: SlackUserOf = lambda person: None
) -> list[Block]:
    """A message as Block Kit: its title as a header (marked with its tone), its fields side by
    side, its words as sections (mrkdwn), and its buttons and links (URL buttons) as actions.

    Workflow text is plain words: `to_slack` escapes it, so nothing in it is Slack markup but
    Firebell's own links and mentions (see `bot.slack.text`)."""
    blocks: list[Block] = []
    if message.title:
        mark = TONE_MARKS.get(message.tone or "", "")
        header = f"{mark} {message.title}" if mark else message.title
        # plain_text is shown as it is: a title's `<!channel>` must not ping from a header
        blocks.append({"type": "header", "text": {"type": "plain_text", "emoji": True,
                                                   "text": _cut(neutralise(header), HEADER_LIMIT)}})
    fields = [{"type": "mrkdwn",
               "text": _cut(f"*{to_slack(label)}*\n{to_slack(value, slack_user=slack_user)}",
                            FIELD_LIMIT)}
              for label, value in message.fields]
    for start in range(0, len(fields), FIELDS_PER_SECTION):
        blocks.append({"type": "section", "fields": fields[start:start + FIELDS_PER_SECTION]})
    elements: list[Block] = []
    for button in message.buttons:
        element: Block = {
            "type": "button",
            "action_id": ACTION_PREFIX + button.action,
            "text": {"type": "plain_text", "text": _cut(neutralise(button.label),
                                                        BUTTON_LABEL_LIMIT)},
            "value": button.value,
        }
        if button.style:
            element["style"] = button.style
        elements.append(element)
    for number, (label, url) in enumerate(message.links):
        elements.append({"type": "button", "action_id": f"{LINK_ACTION}_{number}",
                         "text": {"type": "plain_text",
                                  "text": _cut(neutralise(label), BUTTON_LABEL_LIMIT)},
                         "url": url[:3000]})
    actions = [{"type": "actions", "elements": elements[start:start + ACTIONS_LIMIT]}
               for start in range(0, len(elements), ACTIONS_LIMIT)]
    if message.text.strip() or not blocks:
        text = to_slack(message.text, slack_user=slack_user)
        chunks = _chunks(text, SECTION_LIMIT)
        room = MESSAGE_BLOCKS - len(blocks) - len(actions)
        if len(chunks) > room:  # Slack refuses more blocks: the rest is said to be cut
            cut = sum(len(c) for c in chunks[room - 1:])
            chunks = [*chunks[:room - 1], f"… ({cut} more characters not shown)"]
        blocks += [{"type": "section", "text": {"type": "mrkdwn", "text": chunk}}
                   for chunk in chunks]
    return blocks + actions


def _cut(text: str, size: int) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"


def _chunks(text: str, size: int) -> list[str]:
    """Slices of at most `size`, never cutting an entity (`&amp;`) or markup (`<url|label>`)."""
    chunks = []
    while len(text) > size:
        cut = size
        for opener, closer in (("<", ">"), ("&", ";")):
            opened = text.rfind(opener, 0, cut)
            if opened > 0 and text.find(closer, opened) >= cut:
                cut = opened
        chunks.append(text[:cut])
        text = text[cut:]
    return [*chunks, text or " "]  # a section may not be empty


def _option(label: str, value: str) -> Block:
    return {"text": {"type": "plain_text", "text": label[:75]}, "value": value}


def _select(
    block_id: str, label: str, options: Iterable[tuple[str, str]], initial: str | None = None
) -> Block:
    choices = [_option(text, value) for text, value in options][:100]
    element: Block = {"type": "static_select", "action_id": "value", "options": choices}
    chosen = next((c for c in choices if c["value"] == initial), None)
    if chosen is not None:
        element["initial_option"] = chosen
    return {"type": "input", "block_id": block_id, "label": _plain(label), "element": element}


def _plain(text: str) -> Block:
    return {"type": "plain_text", "text": text}


def declare_modal(
    *,
    title: str,
    services: Iterable[tuple[str, str]],  # (name, id)
    severities: Iterable[str],
    drill: bool,
    service: str | None,
    metadata: dict[str, str],
) -> Block:
    """The declaration form: `firebell_declare`, read back by `read_declare_form`."""
    title_input: Block = {"type": "plain_text_input", "action_id": "value", "max_length": 150}
    if title:
        title_input["initial_value"] = title[:150]
    flags = [_option("Drill (practice; pages by chat only)", "drill"),
             _option("Security incident (private channel)", "security"),
             _option("Personal data involved (privacy: starts its notification clocks, "
                     "private channel)", "privacy"),
             _option("Compliance incident (starts its notification clocks)", "compliance")]
    flags_element: Block = {"type": "checkboxes", "action_id": "value", "options": flags}
    if drill:
        flags_element["initial_options"] = [flags[0]]
    return {
        "type": "modal",
        "callback_id": DECLARE_CALLBACK,
        "title": _plain("Declare an incident"),
        "submit": _plain("Declare"),
        "close": _plain("Cancel"),
        "private_metadata": json.dumps(metadata),
        "blocks": [
            {"type": "input", "block_id": "title", "label": _plain("Title"), "element": title_input},
            # Past 100 services an external select: the options come as typed (`matching`).
            {"type": "input", "block_id": "service", "label": _plain("Service"),
             "element": select_element([Choice(name, id) for name, id in services], service)},
            _select("severity", "Severity", ((s.capitalize(), s) for s in severities)),
            _select("urgency", "Urgency", ((u.capitalize(), u) for u in URGENCIES), "high"),
            _select("environment", "Environment", ((e.capitalize(), e) for e in ENVIRONMENTS),
                    "production"),
            {"type": "input", "block_id": "description", "optional": True,
             "label": _plain("What is happening?"),
             "element": {"type": "plain_text_input", "action_id": "value", "multiline": True}},
            {"type": "input", "block_id": "flags", "optional": True, "label": _plain("Flags"),
             "element": flags_element},
        ],
    }


def read_declare_form(view: dict[str, Any]) -> DeclareRequest:
    """The submitted `declare_modal` as a request (without its reporter: who submitted it)."""
    state: dict[str, dict[str, Any]] = view.get("state", {}).get("values", {})

    def value(block_id: str) -> str:
        element = state.get(block_id, {}).get("value", {})
        if element.get("type") in ("static_select", "external_select"):
            return str((element.get("selected_option") or {}).get("value") or "")
        return str(element.get("value") or "")

    flags = {
        option.get("value")
        for option in state.get("flags", {}).get("value", {}).get("selected_options") or []
    }
    return DeclareRequest(
        title=value("title"), service=value("service"), severity=value("severity"),
        urgency=value("urgency"), environment=value("environment") or "production",
        description=value("description"), security="security" in flags, drill="drill" in flags,
        flags=tuple(f for f in ("security", "privacy", "compliance") if f in flags),
    )
