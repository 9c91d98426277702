"""What a front-end hands the command table, and what it gets back.

A front-end (Slack, Teams, the console) turns its platform's input into an `Invocation` and
shows the `Reply` in its own format; the table (`bot/command_table.py`) does the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from workflows.context import Context
from workflows.model import Incident
from workflows.ports import InvalidRequest

if TYPE_CHECKING:
    from bot.forms import Form


@dataclass(frozen=True)
class Invocation:
    command: str  # "incident" or "oncall"
    text: str  # what follows the command
    user: str  # the platform's user id
    channel: str | None = None  # where it was typed


@dataclass(frozen=True)
class DeclareForm:
    """Ask the person for the declaration's fields (a Slack modal, a Teams card)."""

    title: str
    drill: bool = False
    service: str | None = None


@dataclass
class Reply:
    text: str
    public: bool = False  # posted in the channel rather than shown only to the person
    form: DeclareForm | None = None
    ask: Form | None = None  # a form to fill in instead of the missing arguments (bot/forms.py)
    incident: Incident | None = None
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Args:
    """A command's arguments, as its parser (`bot/parsers.py`) read them."""

    incident: int | None = None  # the incident named first (`INC-12`); None: the channel's
    text: str = ""  # the rest of the line
    words: tuple[str, ...] = ()
    options: Mapping[str, str] = field(default_factory=dict)  # `key=value`
    schedule: str | None = None  # a schedule the first word named
    number: int | None = None  # an action item or offer number
    person: str | None = None  # someone named with @ (as typed)
    line: str = ""  # everything after the command's words, as typed


@dataclass(frozen=True)
class Call:
    """One command being run: who (a catalog person id, or the platform id of a stranger), where,
    and how this front-end shows people and channels."""

    ctx: Context
    actor: str
    channel: str | None
    forms: bool  # the front-end can show a declaration form
    mention: Callable[[str], str]
    channel_link: Callable[[str], str]
    calendar_url: Callable[[str], str | None]
    platform: str | None = None  # the chat platform it came from ("slack", "teams"); None: console

    def incident_id(self, args: Args) -> int:
        """The incident the command names, else the one whose channel it was typed in."""
        if args.incident is not None:
            return args.incident
        found = channel_incident(self.ctx, self.channel)
        if found is None:
            raise InvalidRequest(
                "which incident? Run this in the incident's channel or name it, e.g. `INC-12`.")
        return found


def channel_incident(ctx: Context, channel: str | None) -> int | None:
    """The incident whose channel `channel` is, if any."""
    if not channel:
        return None
    with ctx.store.transaction() as tx:
        incident = tx.incident_by_channel(channel)
    return incident.id if incident is not None else None
