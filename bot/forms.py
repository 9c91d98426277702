"""Forms: what a command asks for when it is run without its arguments (a Slack modal, a Teams card).

A command-table entry with a `form` (bot/command_forms.py) answers a bare command (`/incident
status`, or a card's "Update status" button) with a platform-neutral `Form` on a front-end that
can show one. The front-end renders it (bot/slack/forms.py) and hands the answers back as a
`Submission`; the entry's form reads them into the `Args` the typed command would have had, so
the submitted form runs the same entry, access check, handler and workflow as the typed command.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from workflows.catalog.model import Person
from workflows.ports import InvalidRequest

FieldKind = Literal["text", "multiline", "select", "person", "people", "date", "toggle", "group"]
Answer = str | tuple[str, ...] | bool
Answers = Mapping[str, Answer]  # field name -> text, choice, person/date, chosen values, toggle
PersonOf = Callable[[str], Person | None]  # the front-end's user id -> the catalog's person

TITLE_LIMIT = 24  # Slack's limit on a modal's title


@dataclass(frozen=True)
class Choice:
    label: str
    value: str


@dataclass(frozen=True)
class Field:
    """One question. `initial`: a choice's value, a person id, an ISO date, the values of a
    group, True/False for a toggle. A `group` is several checkboxes (`choices`); a `toggle` one."""

    name: str
    label: str
    kind: FieldKind
    choices: tuple[Choice, ...] = ()
    initial: Answer | None = None
    optional: bool = False
    hint: str = ""
    max_length: int | None = None


@dataclass(frozen=True)
class Form:
    """A form to show; submitted, it runs `command` ("incident status") about `incident`."""

    title: str  # at most TITLE_LIMIT characters
    command: str
    fields: tuple[Field, ...]
    submit: str = "Submit"
    intro: str = ""  # a line of context above the fields
    incident: int | None = None

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)


@dataclass(frozen=True)
class Submission:
    """A filled-in form as a front-end received it (person fields hold the platform's ids)."""

    command: str
    answers: Answers
    incident: int | None
    user: str
    channel: str | None = None


class FormErrors(InvalidRequest):
    """Answers that cannot be used, per field: shown next to the fields, the form stays open."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = dict(errors)
