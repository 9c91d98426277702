"""`/incident postmortem | action | actions | handoff | cause`: the words, shared by Slack, Teams
and the console. Process rules live in `workflows/` (postmortem, actions, handoff)."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable

from workflows.context import Context
from workflows.followup import actions as action_items
from workflows.followup import postmortem as postmortems
from workflows.incident.commander import handoff as hand_off
from workflows.ports import InvalidRequest
from workflows.render import render

ACTION_USAGE = '`/incident action "<what>" @owner due <date>` (date: 2026-12-01, tomorrow, 3d, fri)'
_ACTION_ID = re.compile(r"^(?:#|AI-)?(\d+)$", re.IGNORECASE)


def postmortem(ctx: Context, incident_id: int, rest: str, *, actor: str) -> str:
    step = rest.strip().lower()
    if step in ("", "draft"):
        draft = postmortems.draft_postmortem(ctx, incident_id=incident_id, actor=actor)
        parts = [f"Postmortem draft of INC-{incident_id} posted and stored"]
        if draft.backfilled:
            parts.append(f"{draft.backfilled} message(s) added from the channel history")
        if draft.backfill_error:
            parts.append(f"the channel history could not be read: {draft.backfill_error}")
        if draft.flags:
            parts.append(f"the blameless check flagged {len(draft.flags)} phrase(s)")
        return "; ".join(parts) + "."
    if step in ("review", "publish", "reopen"):
        done = postmortems.change_state(ctx, incident_id=incident_id, to=step, actor=actor)
        return f"The postmortem of INC-{incident_id} is {done.state.label}."
    if step == "status":
        return postmortems.status(ctx, incident_id=incident_id)
    raise InvalidRequest("usage: `/incident postmortem [draft|review|publish|reopen|status]`")


def action(ctx: Context, incident_id: int, rest: str, *, actor: str) -> str:
    try:
        words = shlex.split(rest)
    except ValueError:
        raise InvalidRequest(f"usage: {ACTION_USAGE}") from None
    lowered = [w.lower() for w in words]
    if "due" not in lowered or lowered.index("due") + 1 >= len(words):
        raise InvalidRequest(f"an action item needs an owner and a due date: {ACTION_USAGE}")
    at = lowered.index("due")
    due_text = " ".join(words[at + 1 :])
    head = words[:at]
    owners = [w for w in head if w.startswith(("@", "<@"))]
    if len(owners) != 1:
        raise InvalidRequest(f"name one owner with @: {ACTION_USAGE}")
    title = " ".join(w for w in head if w != owners[0])
    owner = ctx.catalog.find_person(owners[0])
    due_on = action_items.parse_due(due_text, today=action_items.today(ctx))
    added = action_items.add_action(ctx, incident_id=incident_id, title=title, owner=owner.id,
                                    due_on=due_on, actor=actor)
    item = added.item
    text = f"{item.ref} for {owner.name}, due {due_on.isoformat()}: {item.title}."
    if item.ticket:
        return f"{text} Ticket {item.ticket}."
    if added.ticket_error:
        return f"{text} The ticket could not be opened ({added.ticket_error}): tracked in Firebell only."
    return f"{text} No ticket system is configured: tracked in Firebell only."


def action_done(ctx: Context, rest: str, *, actor: str) -> str:
    words = rest.split()
    match = _ACTION_ID.match(words[1]) if len(words) == 2 else None
    if match is None:
        raise InvalidRequest("usage: `/incident action done <id>` (e.g. AI-3)")
    item = action_items.complete_action(ctx, action_id=int(match.group(1)), actor=actor)
    return f"{item.ref} done: {item.title}."


def actions(
    ctx: Context, rest: str, *, actor: str, channel: str | None, mention: Callable[[str], str]
) -> str:
    """Open items: `mine`, a team, `all`; by default this channel's incident (else all)."""
    word = rest.strip().lower()
    here = None
    if channel and not word:
        with ctx.store.transaction() as tx:
            found = tx.incident_by_channel(channel)
        here = found.id if found else None
    if word == "mine":
        items, scope = action_items.open_actions(ctx, owner=actor), "of yours"
    elif word and word != "all":
        team = ctx.catalog.team(word)
        items, scope = action_items.open_actions(ctx, team=team.id), f"of {team.name}"
    elif here is not None:
        items, scope = action_items.open_actions(ctx, incident_id=here), f"of INC-{here}"
    else:
        items, scope = action_items.open_actions(ctx), ""
    return render("actions_list", items=items, scope=scope, owner=mention,
                  today=action_items.today(ctx))


def handoff(ctx: Context, incident_id: int, rest: str, *, actor: str) -> str:
    target = rest.strip()
    if not target:
        raise InvalidRequest("usage: `/incident handoff @next-commander`")
    done = hand_off(ctx, incident_id=incident_id, to=target, actor=actor)
    return (f"Handed {done.incident.ref} over to {ctx.display(done.incident.commander)}; "
            "the summary is in the channel.")


def cause(ctx: Context, incident_id: int, rest: str, *, actor: str) -> str:
    tagged = postmortems.tag_cause(ctx, incident_id=incident_id, tag=rest, actor=actor)
    text = f"Cause of INC-{incident_id}: `{tagged.cause}`."
    return f"{text} This is the {tagged.sentence}." if tagged.sentence else text
