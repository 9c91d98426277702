"""Adaptive Cards for the forms of bot/forms.py (Teams' side of bot/slack/forms.py): a `Form` as a
card with one `Action.Execute` submit, the submitted inputs back as `Answers`, and the choices a
typeahead asks for (`application/search`) when a list is too long to send in the card.

A submitted card arrives as an `adaptiveCard/action` invoke whose verb names the form
(`form:incident status`) and whose data is the submit action's data (the form's metadata under
`firebell`) merged with the inputs' values, each a string as Teams sends it: a multi-select's
values joined by commas, a toggle's `valueOn`/`valueOff`, a date as YYYY-MM-DD.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from bot.forms import Answer, Answers, Choice, Field, Form
from bot.teams.cards import Card, adaptive_card, execute, heading, text_blocks, to_teams

FORM_VERB = "form:"  # + the form's command: the submit's verb, "form:incident status"
FORM_DATA = "firebell"  # the submit action's data key that holds the form's metadata
CHOICES_LIMIT = 100  # past this many choices, a typeahead that asks the bot (Data.Query)
SEARCH_RESULTS = 15  # what Teams shows of a typeahead's answer
CHOICE_TITLE_LIMIT = 75
_ON, _OFF = "true", "false"

TeamsIdOf = Callable[[str], str | None]  # a catalog person's id -> their Teams (Entra) id


def form_verb(command: str) -> str:
    return f"{FORM_VERB}{command}"


def form_card(
    form: Form,
    *,
    metadata: Mapping[str, Any],
    people: Sequence[Choice],
    teams_id: TeamsIdOf = lambda person: None,
    values: Mapping[str, Any] | None = None,
    errors: Mapping[str, str] | None = None,
    warning: str = "",
) -> Card:
    """`form` as a card. `people`: the choices of person fields (the catalog's people with a
    Teams id, valued by it). `values` (a submission's inputs) replace the form's initial answers
    and `errors` (field -> words) are shown under their inputs, `warning` above them all, when
    a submitted form comes back to be corrected. `metadata` (where to answer) rides along in the
    submit action's data for `read_submission`."""
    values, errors = values or {}, errors or {}
    body: list[Card] = [heading(to_teams(form.title))]
    if warning:
        body.append(_attention(warning))
    if form.intro:
        body += text_blocks(form.intro)
    for field in form.fields:
        body.append(_input(form, field, people, teams_id, values.get(field.name)))
        if field.hint:
            body.append({"type": "TextBlock", "text": to_teams(field.hint), "wrap": True,
                         "isSubtle": True, "size": "Small", "spacing": "None"})
        if field.name in errors:
            body.append(_attention(errors[field.name]))
    private = {
        **metadata, "command": form.command, "incident": form.incident, "title": form.title,
        # How to read the inputs back: which hold several values, which are on/off.
        "lists": [f.name for f in form.fields if f.kind in ("people", "group")],
        "toggles": [f.name for f in form.fields if f.kind == "toggle"],
    }
    submit = execute(form_verb(form.command), form.submit, {FORM_DATA: private}, style="positive")
    return adaptive_card(body, [submit])


def read_submission(verb: str, data: Mapping[str, Any]) -> tuple[str, dict[str, Any], Answers]:
    """A submitted form: its command (from the verb), its metadata, and its inputs as answers
    (person fields hold Teams ids)."""
    found = data.get(FORM_DATA)
    metadata: dict[str, Any] = dict(found) if isinstance(found, dict) else {}
    lists, toggles = set(_names(metadata.get("lists"))), set(_names(metadata.get("toggles")))
    answers: dict[str, Answer] = {}
    for name, raw in data.items():
        if name == FORM_DATA:
            continue
        if name in toggles:
            answers[name] = raw is True or str(raw).lower() == _ON
        elif name in lists:
            items = raw if isinstance(raw, list) else str(raw or "").split(",")
            answers[name] = tuple(str(v).strip() for v in items if str(v).strip())
        else:
            answers[name] = "" if raw is None else str(raw)
    return verb.removeprefix(FORM_VERB), metadata, answers


def dataset(form: Form, field: Field) -> str:
    """Where a typeahead's `application/search` comes from: the form's command, the field, the
    incident (`search_of` reads it back)."""
    return f"{form.command}|{field.name}|{form.incident if form.incident is not None else ''}"


def search_of(name: str) -> tuple[str, str, int | None]:
    command, _, rest = name.partition("|")
    field, _, incident = rest.partition("|")
    return command, field, int(incident) if incident.isdigit() else None


def matching(choices: Iterable[Choice], query: str, *, skip: int = 0,
             top: int = SEARCH_RESULTS) -> list[dict[str, str]]:
    """A typeahead's answer: the choices whose label or value holds `query` (case aside), those
    starting with it first, `top` of them after `skip`."""
    wanted = query.strip().lower()
    found = [c for c in choices if wanted in c.label.lower() or wanted in c.value.lower()]
    found.sort(key=lambda c: not (c.label.lower().startswith(wanted)
                                  or c.value.lower().startswith(wanted)))
    return [_choice(c) for c in found[max(skip, 0):][: max(1, min(top, SEARCH_RESULTS))]]


# inputs -------------------------------------------------------------------------------------
def _input(form: Form, field: Field, people: Sequence[Choice], teams_id: TeamsIdOf,
           submitted: Any) -> Card:
    value = _initial(field, teams_id) if submitted is None else _submitted(submitted)
    element: Card
    if field.kind in ("text", "multiline"):
        element = {"type": "Input.Text", "isMultiline": field.kind == "multiline"}
        if field.max_length:
            element["maxLength"] = field.max_length
    elif field.kind in ("select", "person", "people"):
        choices = list(field.choices) if field.kind == "select" else list(people)
        element = _choice_set(form, field, choices, value)
    elif field.kind == "group":
        element = {"type": "Input.ChoiceSet", "style": "expanded", "isMultiSelect": True,
                   "choices": [_choice(c) for c in field.choices]}
    elif field.kind == "date":
        element = {"type": "Input.Date"}
    else:  # toggle
        title = field.choices[0].label if field.choices else field.label
        element = {"type": "Input.Toggle", "title": title, "valueOn": _ON, "valueOff": _OFF}
        value = value or _OFF
    element = {**element, "id": field.name, "label": field.label}
    if value:
        element["value"] = value[: field.max_length] if field.max_length else value
    if field.kind != "toggle":  # a toggle is always on or off
        element["isRequired"] = not field.optional
        if not field.optional:
            element["errorMessage"] = _missing(field)
    return element


def _choice_set(form: Form, field: Field, choices: list[Choice], value: str) -> Card:
    element: Card = {"type": "Input.ChoiceSet", "style": "compact"}
    if field.kind == "people":
        element["isMultiSelect"] = True
    if len(choices) <= CHOICES_LIMIT:
        return {**element, "choices": [_choice(c) for c in choices]}
    # Too many to send: Teams asks the bot as the person types (`application/search`). The
    # chosen ones are sent along, so the card shows them by name.
    chosen = set(value.split(",")) if value else set()
    return {**element, "style": "filtered",
            "choices": [_choice(c) for c in choices if c.value in chosen],
            "choices.data": {"type": "Data.Query", "dataset": dataset(form, field)}}


def _initial(field: Field, teams_id: TeamsIdOf) -> str:
    initial = field.initial
    if field.kind == "toggle":
        return _ON if initial is True else _OFF
    if field.kind == "person" and isinstance(initial, str):
        return teams_id(initial) or ""
    if field.kind == "people" and isinstance(initial, tuple):
        return ",".join(i for i in (teams_id(p) for p in initial) if i)
    if isinstance(initial, tuple):
        return ",".join(initial)
    return initial if isinstance(initial, str) else ""


def _submitted(value: Any) -> str:
    if isinstance(value, bool):
        return _ON if value else _OFF
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def _missing(field: Field) -> str:
    if field.kind in ("select", "person", "people"):
        return f"Choose: {field.label}"
    return f"Fill this in: {field.label}"


def _choice(choice: Choice) -> dict[str, str]:
    label = choice.label
    if len(label) > CHOICE_TITLE_LIMIT:
        label = label[: CHOICE_TITLE_LIMIT - 1] + "…"
    return {"title": label, "value": choice.value}


def _attention(text: str) -> Card:
    return {"type": "TextBlock", "text": to_teams(text), "wrap": True, "color": "Attention",
            "spacing": "Small"}


def _names(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []
