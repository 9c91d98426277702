"""Slack's Block Kit limits, checked on what Firebell sends (views and messages).

`block_kit_problems(...)` lists every limit a view or a message's blocks break; the `assert_*`
helpers fail a test with that list. The limits are Slack's published ones (Block Kit reference:
blocks, block elements, composition objects, views).
"""

from __future__ import annotations

import json
from typing import Any

MESSAGE_BLOCKS = 50  # a message's blocks
VIEW_BLOCKS = 100  # a modal's or the App Home's blocks
HEADER = 150
SECTION_TEXT = 3000
FIELD_TEXT = 2000
FIELDS = 10
ACTIONS_ELEMENTS = 25
CONTEXT_ELEMENTS = 10
OPTIONS = 100
OPTION_TEXT = 75
OPTION_VALUE = 150
CHECKBOX_OPTIONS = 10
MODAL_TITLE = 24
MODAL_BUTTON = 24
LABEL = 2000
HINT = 2000
PLACEHOLDER = 150
BUTTON_TEXT = 75
BUTTON_VALUE = 2000
URL = 3000
ID = 255  # block_id, action_id, callback_id
PRIVATE_METADATA = 3000
INPUT_TEXT = 3000

_SELECTS = {"static_select", "external_select", "multi_static_select", "users_select",
            "multi_users_select", "conversations_select", "channels_select"}
_INPUT_ELEMENTS = _SELECTS | {"plain_text_input", "datepicker", "timepicker", "checkboxes",
                              "radio_buttons", "number_input", "email_text_input", "url_text_input"}


def block_kit_problems(*, view: dict[str, Any] | None = None,
                       blocks: list[dict[str, Any]] | None = None) -> list[str]:
    """Every limit `view` (a modal or home) or a message's `blocks` break; [] when none."""
    problems: list[str] = []
    if view is not None:
        _view(view, problems)
    if blocks is not None:
        _blocks(blocks, problems, limit=MESSAGE_BLOCKS, where="message", inputs=False)
    return problems


def assert_valid_view(view: dict[str, Any]) -> None:
    problems = block_kit_problems(view=view)
    assert not problems, "Block Kit limits broken:\n" + "\n".join(problems)


def assert_valid_message(params: dict[str, Any]) -> None:
    """A chat.postMessage / chat.update call's blocks (as sent, JSON text or a list)."""
    raw = params.get("blocks") or []
    blocks = json.loads(raw) if isinstance(raw, str) else raw
    problems = block_kit_problems(blocks=blocks)
    assert not problems, "Block Kit limits broken:\n" + "\n".join(problems)


def _view(view: dict[str, Any], problems: list[str]) -> None:
    kind = view.get("type")
    if kind not in ("modal", "home"):
        problems.append(f"view type {kind!r} is not modal or home")
    if kind == "modal":
        _text(view.get("title"), MODAL_TITLE, "view title", problems, plain=True, required=True)
        for key in ("submit", "close"):
            if key in view:
                _text(view[key], MODAL_BUTTON, f"view {key}", problems, plain=True)
        has_inputs = any(b.get("type") == "input" for b in view.get("blocks") or [])
        if has_inputs and "submit" not in view:
            problems.append("a modal with inputs needs a submit button")
    _length(view.get("callback_id"), ID, "callback_id", problems)
    _length(view.get("private_metadata"), PRIVATE_METADATA, "private_metadata", problems)
    _blocks(view.get("blocks") or [], problems, limit=VIEW_BLOCKS, where="view",
            inputs=kind == "modal")


def _blocks(blocks: list[dict[str, Any]], problems: list[str], *, limit: int, where: str,
            inputs: bool) -> None:
    if len(blocks) > limit:
        problems.append(f"{where}: {len(blocks)} blocks (at most {limit})")
    seen: set[str] = set()
    for number, block in enumerate(blocks):
        at = f"{where} block {number} ({block.get('type')})"
        block_id = block.get("block_id")
        if block_id is not None:
            _length(block_id, ID, f"{at} block_id", problems)
            if block_id in seen:
                problems.append(f"{at}: block_id {block_id!r} repeated")
            seen.add(block_id)
        _block(block, at, problems, inputs=inputs)


def _block(block: dict[str, Any], at: str, problems: list[str], *, inputs: bool) -> None:
    kind = block.get("type")
    if kind == "header":
        _text(block.get("text"), HEADER, f"{at} text", problems, plain=True, required=True)
    elif kind == "section":
        if "text" not in block and "fields" not in block:
            problems.append(f"{at}: a section needs text or fields")
        if "text" in block:
            _text(block["text"], SECTION_TEXT, f"{at} text", problems, required=True)
        fields = block.get("fields") or []
        if len(fields) > FIELDS:
            problems.append(f"{at}: {len(fields)} fields (at most {FIELDS})")
        for field in fields:
            _text(field, FIELD_TEXT, f"{at} field", problems, required=True)
        if "accessory" in block:
            _element(block["accessory"], f"{at} accessory", problems)
    elif kind == "actions":
        elements = block.get("elements") or []
        if not elements or len(elements) > ACTIONS_ELEMENTS:
            problems.append(f"{at}: {len(elements)} elements (1 to {ACTIONS_ELEMENTS})")
        ids = [e.get("action_id") for e in elements if e.get("action_id")]
        if len(ids) != len(set(ids)):
            problems.append(f"{at}: repeated action_id")
        for element in elements:
            _element(element, at, problems)
    elif kind == "context":
        elements = block.get("elements") or []
        if not elements or len(elements) > CONTEXT_ELEMENTS:
            problems.append(f"{at}: {len(elements)} elements (1 to {CONTEXT_ELEMENTS})")
    elif kind == "input":
        if not inputs:
            problems.append(f"{at}: input blocks belong in modals")
        _text(block.get("label"), LABEL, f"{at} label", problems, plain=True, required=True)
        if "hint" in block:
            _text(block["hint"], HINT, f"{at} hint", problems, plain=True)
        element = block.get("element") or {}
        if element.get("type") not in _INPUT_ELEMENTS:
            problems.append(f"{at}: {element.get('type')!r} is not an input element")
        _element(element, at, problems)
    elif kind not in ("divider", "image", "rich_text", "file", "video"):
        problems.append(f"{at}: unknown block type")


def _element(element: dict[str, Any], at: str, problems: list[str]) -> None:
    kind = element.get("type")
    at = f"{at} {kind}"
    _length(element.get("action_id"), ID, f"{at} action_id", problems)
    if "placeholder" in element:
        _text(element["placeholder"], PLACEHOLDER, f"{at} placeholder", problems, plain=True)
    if kind == "button":
        _text(element.get("text"), BUTTON_TEXT, f"{at} text", problems, plain=True, required=True)
        _length(element.get("value"), BUTTON_VALUE, f"{at} value", problems)
        _length(element.get("url"), URL, f"{at} url", problems)
    elif kind in ("static_select", "multi_static_select"):
        options = element.get("options") or []
        if not options or len(options) > OPTIONS:
            problems.append(f"{at}: {len(options)} options (1 to {OPTIONS})")
        _options(options, at, problems)
        _initial_among(element, options, at, problems)
    elif kind == "external_select":
        if "options" in element:
            problems.append(f"{at}: an external select has no options of its own")
        if not 0 <= int(element.get("min_query_length", 3)) <= 100:
            problems.append(f"{at}: min_query_length out of range")
        if "initial_option" in element:
            _options([element["initial_option"]], at, problems)
    elif kind in ("checkboxes", "radio_buttons"):
        options = element.get("options") or []
        if not options or len(options) > CHECKBOX_OPTIONS:
            problems.append(f"{at}: {len(options)} options (1 to {CHECKBOX_OPTIONS})")
        _options(options, at, problems, plain=False)
        initial = element.get("initial_options") or []
        if any(o not in options for o in initial):
            problems.append(f"{at}: an initial option is not among the options")
    elif kind == "plain_text_input":
        limit = int(element.get("max_length", INPUT_TEXT))
        if limit > INPUT_TEXT:
            problems.append(f"{at}: max_length {limit} (at most {INPUT_TEXT})")
        _length(element.get("initial_value"), limit, f"{at} initial_value", problems)
    elif kind == "datepicker":
        initial = element.get("initial_date")
        if initial is not None and not (len(initial) == 10 and initial[4] == initial[7] == "-"):
            problems.append(f"{at}: initial_date {initial!r} is not YYYY-MM-DD")


def _options(options: list[dict[str, Any]], at: str, problems: list[str], *,
             plain: bool = True) -> None:
    for option in options:
        _text(option.get("text"), OPTION_TEXT, f"{at} option text", problems, plain=plain,
              required=True)
        _length(option.get("value"), OPTION_VALUE, f"{at} option value", problems)
    values = [o.get("value") for o in options]
    if len(values) != len(set(values)):
        problems.append(f"{at}: repeated option values")


def _initial_among(element: dict[str, Any], options: list[dict[str, Any]], at: str,
                   problems: list[str]) -> None:
    initial = element.get("initial_option")
    if initial is not None and initial not in options:
        problems.append(f"{at}: initial_option is not among the options")


def _text(obj: Any, limit: int, at: str, problems: list[str], *, plain: bool = False,
          required: bool = False) -> None:
    if obj is None:
        if required:
            problems.append(f"{at}: missing")
        return
    if not isinstance(obj, dict) or obj.get("type") not in ("plain_text", "mrkdwn"):
        problems.append(f"{at}: not a text object")
        return
    if plain and obj.get("type") != "plain_text":
        problems.append(f"{at}: must be plain_text")
    text = obj.get("text") or ""
    if not text:
        problems.append(f"{at}: empty text")
    if len(text) > limit:
        problems.append(f"{at}: {len(text)} characters (at most {limit})")


def _length(value: Any, limit: int, at: str, problems: list[str]) -> None:
    if value is not None and len(str(value)) > limit:
        problems.append(f"{at}: {len(str(value))} characters (at most {limit})")
