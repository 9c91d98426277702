"""The forms of the command table's entries (`Command.form`): how each is built for a bare
command, and how its answers become the typed command's `Args`. The form itself is
platform-neutral (bot/forms.py); the front-ends render it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from bot.forms import TITLE_LIMIT, Answers, Choice, Field, Form, FormErrors, PersonOf
from bot.invocation import Args, Call
from workflows.catalog.model import Person
from workflows.model import ROLES, Incident, Stage
from workflows.ports import InvalidRequest


@dataclass(frozen=True)
class FormSpec:
    build: Callable[[Call, Args], Form]  # the form for the bare command (args: its incident ref)
    read: Callable[[Answers, PersonOf], Args]  # the answers as the typed command's arguments


# reading answers --------------------------------------------------------------------------------
def _text(answers: Answers, name: str) -> str:
    value = answers.get(name)
    return value.strip() if isinstance(value, str) else ""


def _many(answers: Answers, name: str) -> tuple[str, ...]:
    value = answers.get(name)
    return tuple(v for v in value if v) if isinstance(value, tuple) else ()


def _required(answers: Answers, *names: str) -> None:
    missing = {n: "Fill this in." for n in names if not _text(answers, n)}
    if missing:
        raise FormErrors(missing)


def _person(person_of: PersonOf, field_name: str, user: str) -> Person:
    found = person_of(user) if user else None
    if found is None:
        raise FormErrors({field_name: f"This person is not in Firebell's catalog ({user or 'nobody'}"
                                      "); an admin can add them under `people:`."})
    return found


def _args(*, text: str = "", words: tuple[str, ...] = (), person: str | None = None,
          options: Mapping[str, str] | None = None) -> Args:
    return Args(text=text, words=words, person=person, options=dict(options or {}), line=text)


# the forms ---------------------------------------------------------------------------------------
def _incident(call: Call, args: Args) -> Incident:
    with call.ctx.reading() as uow:
        return uow.incidents.get_incident(call.incident_id(args))


def _title(words: str) -> str:
    return words if len(words) <= TITLE_LIMIT else words[: TITLE_LIMIT - 1] + "…"


def _intro(call: Call, incident: Incident) -> str:
    commander = call.ctx.display(incident.commander) or "none"
    return (f"{incident.ref} · {incident.title}\n{incident.priority} · {incident.state.value} · "
            f"stage {incident.stage.value} · commander {commander}")


AUDIENCE = (Choice("Notify stakeholders", "stakeholders"), Choice("Public status page", "public"))


def _status_form(call: Call, args: Args) -> Form:
    incident = _incident(call, args)
    return Form(
        title=_title(f"Status of {incident.ref}"), command="incident status",
        submit="Post update", intro=_intro(call, incident), incident=incident.id,
        fields=(
            Field("stage", "Stage", "select", tuple(Choice(s.value, s.value) for s in Stage),
                  initial=incident.stage.value),
            Field("text", "What changed?", "multiline", max_length=2900),
            Field("audience", "Who else reads it", "group", AUDIENCE, optional=True,
                  hint="The channel always does."),
        ),
    )


def _status_args(answers: Answers, person_of: PersonOf) -> Args:
    _required(answers, "stage", "text")
    flags = tuple(f"--{a}" for a in _many(answers, "audience") if a in ("stakeholders", "public"))
    # The audience as the typed flags (`/incident status identified --public <text>`).
    return _args(text=" ".join((_text(answers, "stage"), *flags, _text(answers, "text"))))


STATUS = FormSpec(_status_form, _status_args)


def _role_form(call: Call, args: Args) -> Form:
    incident = _incident(call, args)
    return Form(
        title=_title(f"Role in {incident.ref}"), command="incident role", submit="Assign",
        intro=_intro(call, incident), incident=incident.id,
        fields=(
            Field("role", "Role", "select", tuple(Choice(label, role) for role, label in ROLES.items())),
            Field("person", "Person", "person"),
        ),
    )


def _role_args(answers: Answers, person_of: PersonOf) -> Args:
    _required(answers, "role", "person")
    found = _person(person_of, "person", _text(answers, "person"))
    words = (_text(answers, "role"), f"@{found.id}")
    return _args(text=" ".join(words), words=words)


ROLE = FormSpec(_role_form, _role_args)


def _severity_form(call: Call, args: Args) -> Form:
    incident = _incident(call, args)
    catalog = call.ctx.catalog
    priorities = sorted({p for row in catalog.priorities.matrix.values() for p in row.values()})
    return Form(
        title=_title(f"Severity of {incident.ref}"), command="incident severity", submit="Change",
        intro=_intro(call, incident), incident=incident.id,
        fields=(
            Field("severity", "Severity", "select",
                  tuple(Choice(s.capitalize(), s) for s in catalog.priorities.matrix),
                  initial=incident.severity),
            Field("priority", "Or set the priority directly", "select",
                  tuple(Choice(p, p) for p in priorities), optional=True,
                  hint=f"Now {incident.priority}; by default it follows the severity and "
                       f"urgency ({incident.urgency})."),
        ),
    )


def _severity_args(answers: Answers, person_of: PersonOf) -> Args:
    _required(answers, "severity")
    priority = _text(answers, "priority")
    return _args(text=_text(answers, "severity"), options={"priority": priority} if priority else {})


SEVERITY = FormSpec(_severity_form, _severity_args)


def _escalate_form(call: Call, args: Args) -> Form:
    incident = _incident(call, args)
    groups = call.ctx.catalog.escalation_groups
    if not groups:
        raise InvalidRequest("the catalog has no `escalation_groups` to escalate to")
    return Form(
        title=_title(f"Escalate {incident.ref}"), command="incident escalate", submit="Escalate",
        intro=_intro(call, incident), incident=incident.id,
        fields=(
            Field("group", "Who decides", "select",
                  tuple(Choice(f"{name} ({len(members)})", name) for name, members in groups.items())),
            Field("reason", "Why (goes on the record)", "multiline", max_length=2000),
        ),
    )


def _escalate_args(answers: Answers, person_of: PersonOf) -> Args:
    _required(answers, "group", "reason")
    return _args(text=f"{_text(answers, 'group')} {_text(answers, 'reason')}")


ESCALATE = FormSpec(_escalate_form, _escalate_args)


def _page_form(call: Call, args: Args) -> Form:
    incident = _incident(call, args)
    teams = tuple(Choice(f"{t.name} (whoever is on call)", t.id) for t in call.ctx.catalog.teams)
    return Form(
        title=_title(f"Page for {incident.ref}"), command="incident page", submit="Page now",
        intro=_intro(call, incident), incident=incident.id,
        fields=(
            Field("people", "People", "people", optional=True),
            Field("team", "Or a team's on-call", "select", teams, optional=True),
        ),
    )


def _page_args(answers: Answers, person_of: PersonOf) -> Args:
    people = [_person(person_of, "people", user).id for user in _many(answers, "people")]
    team = _text(answers, "team")
    targets = tuple([f"@{p}" for p in people] + ([f"team:{team}"] if team else []))
    if not targets:
        raise FormErrors({"people": "Choose people, a team, or both."})
    return _args(text=" ".join(targets), words=targets)


PAGE = FormSpec(_page_form, _page_args)


def _action_form(call: Call, args: Args) -> Form:
    incident = _incident(call, args)
    return Form(
        title=_title(f"Action for {incident.ref}"), command="incident action", submit="Add",
        intro=_intro(call, incident), incident=incident.id,
        fields=(
            Field("what", "What needs doing?", "text", max_length=200),
            Field("owner", "Owner", "person"),
            Field("due", "Due", "date"),
            Field("ticket", "Ticket", "toggle", (Choice("Open a ticket", "yes"),), initial=True,
                  optional=True),
        ),
    )


def _action_args(answers: Answers, person_of: PersonOf) -> Args:
    _required(answers, "what", "due")
    owner = _person(person_of, "owner", _text(answers, "owner"))
    ticket = answers.get("ticket") is True
    return _args(text=_text(answers, "what"), person=f"@{owner.id}",
                 options={"due": _text(answers, "due"), "ticket": "yes" if ticket else "no"})


ACTION = FormSpec(_action_form, _action_args)


STEPS = (Choice("Reviewed", "review"), Choice("Published", "publish"))


def _review_form(call: Call, args: Args) -> Form:
    incident = _incident(call, args)
    return Form(
        title=_title(f"Postmortem {incident.ref}"), command="incident review",
        submit="Save", intro=_intro(call, incident), incident=incident.id,
        fields=(
            Field("step", "Mark the postmortem", "select", STEPS, initial="review"),
            Field("note", "Note for the record", "multiline", optional=True, max_length=2000),
        ),
    )


def _review_args(answers: Answers, person_of: PersonOf) -> Args:
    _required(answers, "step")
    return _args(text=f"{_text(answers, 'step')} {_text(answers, 'note')}".strip())


REVIEW = FormSpec(_review_form, _review_args)
