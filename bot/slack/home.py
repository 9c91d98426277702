"""A person's `Home` (workflows/home.py) as Slack's App Home view (`views.publish`).

Within Slack's limits: at most 100 blocks, headers of 150 characters, sections of 3,000,
button values of 2,000, option texts of 75. Its buttons run the same words as the commands:
Acknowledge is the card's `firebell_ack`; Swap is `/oncall swap <schedule> <from> <to>` for
that shift, Cover `/oncall cover <schedule> <duration>`, both behind Slack's confirmation;
Declare opens the declaration form.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.slack.blocks import ACTION_PREFIX
from bot.slack.text import SlackUserOf, escape
from workflows.home import Home, HomeIncident, HomeShift, OnCallLine

# Exact action ids of the home's own controls (no `firebell_` prefix: the card's buttons match
# that); each is registered in bot/slack/app.py.
HOME_DECLARE = "firebell.home.declare"
HOME_SWAP = "firebell.home.swap"
HOME_COVER = "firebell.home.cover"
HOME_CALENDAR = "firebell.home.calendar"  # a URL button: Slack opens it, the click is only acked
COVER_FOR = ("1h", "2h", "4h", "8h")

BLOCK_LIMIT = 100
SECTION_LIMIT, HEADER_LIMIT, VALUE_LIMIT, OPTION_LIMIT = 3000, 150, 2000, 75
MAX_INCIDENTS, MAX_SHIFTS, MAX_LINES = 25, 12, 20  # 25+12+20 rows fit well within 100 blocks

Block = dict[str, Any]


def home_view(home: Home, *, slack_user: SlackUserOf = lambda person: None,
              calendar_url: str | None = None) -> Block:
    """The view for `views.publish`: the person's incidents, shifts, who is on call, and the
    quick actions."""
    zone = ZoneInfo(home.zone)
    blocks: list[Block] = [_header(f"Firebell · {home.name}" if home.known else "Firebell")]
    blocks.append(_context(f"Updated {_when(home.at, zone)} ({home.zone})"))
    if not home.known:
        blocks.append(_section(
            "You are not in Firebell's catalog yet, so there is nothing of yours to show. "
            "Ask an operator to add you with `slack: <your member id>`; meanwhile `/oncall` "
            "answers who is on call."))
        return {"type": "home", "blocks": blocks}
    blocks.append(_quick_actions(home, calendar_url))

    blocks += [{"type": "divider"}, _header("Your open incidents")]
    if not home.incidents:
        blocks.append(_section("Nothing open that concerns you."))
    for incident in home.incidents[:MAX_INCIDENTS]:
        blocks.append(_incident(incident, zone))
    if len(home.incidents) > MAX_INCIDENTS:
        blocks.append(_context(f"… and {len(home.incidents) - MAX_INCIDENTS} more: "
                               "`/incident list` shows them all."))

    blocks += [{"type": "divider"}, _header("Your next shifts (14 days)")]
    if not home.shifts:
        blocks.append(_section("No shifts in the next 14 days."))
    for shift in home.shifts[:MAX_SHIFTS]:
        blocks.append(_shift(shift, zone))
    if len(home.shifts) > MAX_SHIFTS:
        blocks.append(_context(f"… and {len(home.shifts) - MAX_SHIFTS} more: "
                               "`/oncall calendar` gives the whole feed."))
    if home.on_call_now:
        blocks.append(_cover(home.on_call_now))

    blocks += [{"type": "divider"}, _header("On call now for your teams")]
    if not home.on_call:
        blocks.append(_section("None of your teams has a schedule."))
    for line in home.on_call[:MAX_LINES]:
        blocks.append(_section(_on_call(line, zone, slack_user)))
    if len(home.on_call) > MAX_LINES:
        blocks.append(_context(f"… and {len(home.on_call) - MAX_LINES} more: `/oncall` has all."))
    return {"type": "home", "blocks": blocks[:BLOCK_LIMIT]}


# the parts ---------------------------------------------------------------------------------
def _quick_actions(home: Home, calendar_url: str | None) -> Block:
    elements = [_button(HOME_DECLARE, "Declare an incident", "declare", style="danger")]
    if home.shifts:
        elements.append(_button(HOME_SWAP, "Swap my next shift", _swap_value(home.shifts[0]),
                                confirm=_swap_confirm(home.shifts[0], ZoneInfo(home.zone))))
    if calendar_url:
        elements.append({"type": "button", "action_id": HOME_CALENDAR,
                         "text": _plain("My shifts in my calendar"), "url": calendar_url[:3000]})
    return {"type": "actions", "block_id": "firebell_home_actions", "elements": elements}


def _incident(incident: HomeIncident, zone: ZoneInfo) -> Block:
    where = f" · <#{incident.channel}>" if incident.channel else ""
    title = escape(_cut(incident.title, 300)) if not incident.private else "restricted incident"
    state = incident.state.value.capitalize()
    if incident.acknowledged_by:
        state += f" by {escape(incident.acknowledged_by)}"
    facts = [state, escape(incident.stage)]
    if incident.service:
        facts.append(escape(incident.service))
    if incident.commander:
        facts.append(f"commander {escape(incident.commander)}")
    text = (f"*{incident.ref} · {escape(incident.priority)} · {title}*{where}\n"
            f"{' · '.join(facts)}\n"
            f"_Declared {_when(incident.declared_at, zone)} · you: {', '.join(incident.why)}_")
    block = _section(text)
    if incident.acknowledgeable:
        block["accessory"] = _button(ACTION_PREFIX + "ack", "Acknowledge", str(incident.id),
                                     style="primary")
    return block


def _shift(shift: HomeShift, zone: ZoneInfo) -> Block:
    now = "  *(now)*" if shift.current else ""
    how = "override" if shift.override else shift.layer
    text = (f"*{escape(shift.schedule)}* ({escape(shift.team)}, {escape(how)}){now}\n"
            f"{_when(shift.start, zone)} → {_when(shift.end, zone)}")
    block = _section(text)
    block["accessory"] = _button(HOME_SWAP, "Swap", _swap_value(shift),
                                 confirm=_swap_confirm(shift, zone))
    return block


def _cover(schedules: tuple[str, ...]) -> Block:
    options = [_option(f"{schedule}: {span}" if len(schedules) > 1 else f"Cover me for {span}",
                       f"{schedule} {span}")
               for schedule in schedules for span in COVER_FOR][:100]
    select: Block = {
        "type": "static_select", "action_id": HOME_COVER,
        "placeholder": _plain("Cover me for…"), "options": options,
        "confirm": {"title": _plain("Ask for cover?"),
                    "text": _plain("Your team is asked to take over from now for the time you "
                                   "picked; you stay on call until someone takes it."),
                    "confirm": _plain("Ask"), "deny": _plain("Cancel")},
    }
    return {"type": "actions", "block_id": "firebell_home_cover", "elements": [select]}


def _on_call(line: OnCallLine, zone: ZoneInfo, slack_user: SlackUserOf) -> str:
    now = ", ".join(_person(p, slack_user) for p in line.now) or "nobody"
    text = f"*{escape(line.team)}* · {escape(line.schedule)}: {now}"
    if line.next_at is not None:
        following = ", ".join(_person(p, slack_user) for p in line.next_people) or "nobody"
        text += f"\nuntil {_when(line.next_at, zone)}, then {following}"
    return text


# Block Kit pieces ----------------------------------------------------------------------------
def _person(person: str, slack_user: SlackUserOf) -> str:
    user = slack_user(person)
    return f"<@{user}>" if user else escape(person)


def _swap_value(shift: HomeShift) -> str:
    """The words after `/oncall swap`: this shift exactly (the current one from now)."""
    return (f"{shift.schedule} {_iso(shift.start)} {_iso(shift.end)}")[:VALUE_LIMIT]


def _swap_confirm(shift: HomeShift, zone: ZoneInfo) -> Block:
    return {"title": _plain("Offer this shift?"),
            "text": _plain(_cut(f"Your team is asked to take {shift.schedule} from "
                                f"{_when(shift.start, zone)} to {_when(shift.end, zone)}; it "
                                "stays yours until someone takes it.", 300)),
            "confirm": _plain("Offer it"), "deny": _plain("Cancel")}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="minutes")


def _when(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%a %d %b %H:%M")


def _button(action_id: str, label: str, value: str, *, style: str | None = None,
            confirm: Block | None = None) -> Block:
    button: Block = {"type": "button", "action_id": action_id, "text": _plain(label),
                     "value": value[:VALUE_LIMIT]}
    if style:
        button["style"] = style
    if confirm:
        button["confirm"] = confirm
    return button


def _option(label: str, value: str) -> Block:
    return {"text": _plain(_cut(label, OPTION_LIMIT)), "value": value[:150]}


def _header(text: str) -> Block:
    return {"type": "header", "text": _plain(_cut(text, HEADER_LIMIT))}


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, SECTION_LIMIT)}}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(text, SECTION_LIMIT)}]}


def _plain(text: str) -> Block:
    return {"type": "plain_text", "text": text, "emoji": True}


def _cut(text: str, size: int) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"
