"""Block Kit for the forms of bot/forms.py: a `Form` as a modal, its submitted state as `Answers`,
and the options an external select asks for (`block_suggestion`) when a list is too long."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from bot.forms import TITLE_LIMIT, Answer, Answers, Choice, Field, Form
from bot.slack.text import SlackUserOf, to_slack

FORM_CALLBACK = "firebell_form"
OPTIONS_LIMIT = 100  # Slack's limit on a select's options (and on a block_suggestion answer)
OPTION_TEXT_LIMIT = 75
CHECKBOXES_LIMIT = 10
LABEL_LIMIT = 2000
HINT_LIMIT = 2000
TEXT_LIMIT = 3000
MIN_QUERY_LENGTH = 1  # an external select asks once this many characters are typed
_TOGGLE = "toggle"  # the action id of a toggle's one checkbox: read back as True/False

Block = dict[str, Any]


def form_view(form: Form, *, metadata: dict[str, Any],
              slack_user: SlackUserOf = lambda person: None) -> Block:
    """`form` as a modal (`firebell_form`); `metadata` (where to answer) rides along with the
    command and incident in `private_metadata`, for `read_submission`."""
    blocks: list[Block] = []
    if form.intro:
        blocks.append({"type": "section",
                       "text": {"type": "mrkdwn", "text": _cut(to_slack(form.intro), TEXT_LIMIT)}})
    blocks += [_input(field, slack_user) for field in form.fields]
    private = {**metadata, "command": form.command, "incident": form.incident}
    return {
        "type": "modal",
        "callback_id": FORM_CALLBACK,
        "title": _plain(_cut(form.title, TITLE_LIMIT)),
        "submit": _plain(_cut(form.submit, 24)),
        "close": _plain("Cancel"),
        "private_metadata": json.dumps(private),
        "blocks": blocks,
    }


def metadata_of(view: dict[str, Any]) -> dict[str, Any]:
    loaded = json.loads(view.get("private_metadata") or "{}")
    return loaded if isinstance(loaded, dict) else {}


def read_answers(view: dict[str, Any]) -> Answers:
    """The submitted view's `state.values` as answers (person fields: Slack user ids)."""
    state: dict[str, dict[str, Any]] = (view.get("state") or {}).get("values") or {}
    answers: dict[str, Answer] = {}
    for block_id, actions in state.items():
        for action_id, element in actions.items():
            answers[block_id] = _answer(action_id, element)
    return answers


def _answer(action_id: str, element: dict[str, Any]) -> Answer:
    kind = element.get("type")
    if kind in ("static_select", "external_select"):
        return str((element.get("selected_option") or {}).get("value") or "")
    if kind == "users_select":
        return str(element.get("selected_user") or "")
    if kind == "multi_users_select":
        return tuple(str(u) for u in element.get("selected_users") or [])
    if kind == "datepicker":
        return str(element.get("selected_date") or "")
    if kind == "checkboxes":
        chosen = tuple(str(o.get("value")) for o in element.get("selected_options") or [])
        return bool(chosen) if action_id == _TOGGLE else chosen
    return str(element.get("value") or "")


def matching(choices: Iterable[Choice], query: str) -> list[Block]:
    """A `block_suggestion` answer: the choices whose label or value holds `query` (case aside),
    those starting with it first, at most OPTIONS_LIMIT."""
    wanted = query.strip().lower()
    found = [c for c in choices if wanted in c.label.lower() or wanted in c.value.lower()]
    found.sort(key=lambda c: not (c.label.lower().startswith(wanted)
                                  or c.value.lower().startswith(wanted)))
    return [option(c.label, c.value) for c in found[:OPTIONS_LIMIT]]


def option(label: str, value: str) -> Block:
    return {"text": _plain(_cut(label, OPTION_TEXT_LIMIT)), "value": value}


def select_element(choices: list[Choice], initial: str | None) -> Block:
    """A static select, or, past Slack's 100 options, an external select that asks Firebell for
    the options matching what is typed (`matching`)."""
    chosen = next((c for c in choices if c.value == initial), None)
    if len(choices) > OPTIONS_LIMIT:
        element: Block = {"type": "external_select", "action_id": "value",
                          "min_query_length": MIN_QUERY_LENGTH,
                          "placeholder": _plain("Type to search")}
    else:
        element = {"type": "static_select", "action_id": "value",
                   "options": [option(c.label, c.value) for c in choices]}
    if chosen is not None:
        element["initial_option"] = option(chosen.label, chosen.value)
    return element


def _input(field: Field, slack_user: SlackUserOf) -> Block:
    element: Block
    initial = field.initial
    if field.kind in ("text", "multiline"):
        element = {"type": "plain_text_input", "action_id": "value",
                   "multiline": field.kind == "multiline"}
        if field.max_length:
            element["max_length"] = min(field.max_length, TEXT_LIMIT)
        if isinstance(initial, str) and initial:
            element["initial_value"] = initial[: field.max_length or TEXT_LIMIT]
    elif field.kind == "select":
        element = select_element(list(field.choices), initial if isinstance(initial, str) else None)
    elif field.kind == "person":
        element = {"type": "users_select", "action_id": "value"}
        user = slack_user(initial) if isinstance(initial, str) else None
        if user:
            element["initial_user"] = user
    elif field.kind == "people":
        element = {"type": "multi_users_select", "action_id": "value"}
    elif field.kind == "date":
        element = {"type": "datepicker", "action_id": "value"}
        if isinstance(initial, str) and initial:
            element["initial_date"] = initial
    else:  # toggle, group: checkboxes
        choices = list(field.choices[:CHECKBOXES_LIMIT]) or [Choice(field.label, "yes")]
        options = [option(c.label, c.value) for c in choices]
        toggle = field.kind == "toggle"
        element = {"type": "checkboxes", "action_id": _TOGGLE if toggle else "value",
                   "options": options[:1] if toggle else options}
        on = ([o for o in options[:1]] if initial is True else []) if toggle else [
            o for o in options if isinstance(initial, tuple) and o["value"] in initial]
        if on:
            element["initial_options"] = on
    block: Block = {"type": "input", "block_id": field.name,
                    "label": _plain(_cut(field.label, LABEL_LIMIT)), "element": element}
    if field.optional:
        block["optional"] = True
    if field.hint:
        block["hint"] = _plain(_cut(field.hint, HINT_LIMIT))
    return block


def _plain(text: str) -> Block:
    return {"type": "plain_text", "text": text}


def _cut(text: str, size: int) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"
