"""Argument parsers of the command table: the text after a command's words -> `Args`.

Each parser is `(text, usage, catalog) -> Args` and raises `InvalidRequest("usage: ...")` with the
command's usage line when the text does not fit; no workflow runs before the arguments are read.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from bot.incident_ids import split_ref
from bot.invocation import Args
from bot.options import split_options, tokens
from workflows.catalog.model import Catalog
from workflows.incident.queries import schedules_for
from workflows.ports import InvalidRequest

Parser = Callable[[str, str, Catalog], Args]
_NUMBER = re.compile(r"^(?:#|AI-)?(\d{1,9})$", re.IGNORECASE)


def _usage(usage: str) -> InvalidRequest:
    return InvalidRequest(f"usage: {usage}")


def nothing(text: str, usage: str, catalog: Catalog) -> Args:
    """No arguments (anything typed after the words is ignored)."""
    return Args()


def rest(text: str, usage: str, catalog: Catalog) -> Args:
    """The rest of the line, as typed."""
    return Args(text=text.strip())


def incident(text: str, usage: str, catalog: Catalog) -> Args:
    """An optional incident reference (`12`, `#12`, `INC-12`), then the rest of the line."""
    number, remainder = split_ref(text)
    return Args(incident=number, text=remainder)


def incident_then(text: str, usage: str, catalog: Catalog) -> Args:
    """An optional incident reference, then a rest of the line that must not be empty."""
    args = incident(text, usage, catalog)
    if not args.text:
        raise _usage(usage)
    return args


def incident_words(count: int) -> Parser:
    """An optional incident reference, then exactly `count` words."""

    def parse(text: str, usage: str, catalog: Catalog) -> Args:
        args = incident(text, usage, catalog)
        words = tuple(args.text.split())
        if len(words) != count:
            raise _usage(usage)
        return Args(incident=args.incident, text=args.text, words=words)

    return parse


def incident_choice(*choices: str) -> Parser:
    """An optional incident reference, then one of `choices` ("" for none), lower-cased."""

    def parse(text: str, usage: str, catalog: Catalog) -> Args:
        args = incident(text, usage, catalog)
        step = args.text.lower()
        if step not in choices:
            raise _usage(usage)
        return Args(incident=args.incident, text=step)

    return parse


def options(text: str, usage: str, catalog: Catalog) -> Args:
    """`key=value` options among words (quotes keep a phrase one word)."""
    found, words = split_options(text)
    return Args(options=found, words=tuple(words), text=text.strip())


def labelled(*keys: str) -> Parser:
    """`key=value` options for `keys` only, and at least one other word."""

    def parse(text: str, usage: str, catalog: Catalog) -> Args:
        found, words = split_options(text, keys=keys)
        summary = " ".join(words).strip()
        if not summary:
            raise _usage(usage)
        return Args(options=found, words=tuple(words), text=summary)

    return parse


def number(text: str, usage: str, catalog: Catalog) -> Args:
    """One number (`3`, `#3`, `AI-3`)."""
    words = text.split()
    match = _NUMBER.match(words[0]) if len(words) == 1 else None
    if match is None:
        raise _usage(usage)
    return Args(number=int(match.group(1)))


def action_item(text: str, usage: str, catalog: Catalog) -> Args:
    """An optional incident reference, then `"<what>" @owner due <date>`."""
    args = incident(text, usage, catalog)
    words = tokens(args.text)
    lowered = [w.lower() for w in words]
    if "due" not in lowered or lowered.index("due") + 1 >= len(words):
        raise InvalidRequest(f"an action item needs an owner and a due date: {usage}")
    at = lowered.index("due")
    head = words[:at]
    owners = [w for w in head if w.startswith(("@", "<@"))]
    if len(owners) != 1:
        raise InvalidRequest(f"name one owner with @: {usage}")
    return Args(incident=args.incident, text=" ".join(w for w in head if w != owners[0]),
                person=owners[0], options={"due": " ".join(words[at + 1 :])})


def schedule_then(*counts: int, named: bool = False) -> Parser:
    """A schedule, team or service named first (else the person's own, decided by the workflow;
    `named`: it must be named), then a number of words in `counts` (any, when none given)."""

    def parse(text: str, usage: str, catalog: Catalog) -> Args:
        words = text.split()
        if named and not words:
            raise _usage(usage)
        schedule = _schedule(catalog, words[0], required=named) if words else None
        if schedule is not None:
            words = words[1:]
        if counts and len(words) not in counts:
            raise _usage(usage)
        return Args(schedule=schedule, words=tuple(words), text=" ".join(words))

    return parse


def _schedule(catalog: Catalog, word: str, *, required: bool) -> str | None:
    """The one schedule `word` names; None when it names nothing (unless `required`)."""
    try:
        found = schedules_for(catalog, word)
    except InvalidRequest:
        if required:
            raise
        return None
    if len(found) > 1:
        raise InvalidRequest(f"which schedule? {word} has {', '.join(found)}")
    return found[0] if found else None


def month_and_query(text: str, usage: str, catalog: Catalog) -> Args:
    """A month (`2026-11`, in `options["month"]`) and a team or schedule (`text`), both optional."""
    words = text.split()
    month = next((w for w in words if re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", w)), None)
    query = [w for w in words if w != month]
    if len(query) > 1:
        raise _usage(usage)
    return Args(words=tuple(words), text=query[0] if query else "",
                options={"month": month} if month else {})
