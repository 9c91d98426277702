"""Replies of `/incident postmortem | action | actions | handoff | cause`: each calls one workflow
and says what happened. The routes are in `bot/command_table.py`; the rules in
`workflows/followup/` and `workflows/incident/commander.py`."""

from __future__ import annotations

from bot.invocation import Args, Call, Reply, channel_incident
from workflows.followup import actions as action_items
from workflows.followup import postmortem as postmortems
from workflows.incident.commander import handoff as hand_off
from workflows.render import render


def postmortem(call: Call, args: Args) -> Reply:
    """`draft` (the default), `review`, `publish`, `reopen` or `status`."""
    incident_id, step = call.incident_id(args), args.text
    if step in ("", "draft"):
        draft = postmortems.draft_postmortem(call.ctx, incident_id=incident_id, actor=call.actor)
        parts = [f"Postmortem draft of INC-{incident_id} posted and stored"]
        if draft.backfilled:
            parts.append(f"{draft.backfilled} message(s) added from the channel history")
        if draft.backfill_error:
            parts.append(f"the channel history could not be read: {draft.backfill_error}")
        if draft.flags:
            parts.append(f"the blameless check flagged {len(draft.flags)} phrase(s)")
        return Reply("; ".join(parts) + ".")
    if step == "status":
        return Reply(postmortems.status(call.ctx, incident_id=incident_id))
    done = postmortems.change_state(call.ctx, incident_id=incident_id, to=step, actor=call.actor)
    return Reply(f"The postmortem of INC-{incident_id} is {done.state.label}.")


def review(call: Call, args: Args) -> Reply:
    """`review|publish [note]`: move the postmortem on, the note on the record."""
    step, _, note = args.text.partition(" ")
    incident_id = call.incident_id(args)
    done = postmortems.change_state(call.ctx, incident_id=incident_id, to=step.lower(),
                                    actor=call.actor, note=note.strip())
    return Reply(f"The postmortem of INC-{incident_id} is {done.state.label}"
                 + (" (your note is on the timeline)." if note.strip() else "."))


def action(call: Call, args: Args) -> Reply:
    ctx = call.ctx
    incident_id = call.incident_id(args)
    owner = ctx.catalog.find_person(args.person or "")
    due_on = action_items.parse_due(args.options["due"], today=action_items.today(ctx))
    wanted = args.options.get("ticket") != "no"  # the form's "Open a ticket", unticked
    added = action_items.add_action(ctx, incident_id=incident_id, title=args.text, owner=owner.id,
                                    due_on=due_on, actor=call.actor, open_ticket=wanted)
    item = added.item
    text = f"{item.ref} for {owner.name}, due {due_on.isoformat()}: {item.title}."
    if not wanted:
        return Reply(f"{text} No ticket, as asked: tracked in Firebell only.")
    if item.ticket:
        return Reply(f"{text} Ticket {item.ticket}.")
    if added.ticket_error:
        return Reply(f"{text} The ticket could not be opened ({added.ticket_error}): "
                     "tracked in Firebell only.")
    return Reply(f"{text} No ticket system is configured: tracked in Firebell only.")


def action_done(call: Call, args: Args) -> Reply:
    assert args.number is not None  # the parser requires it
    item = action_items.complete_action(call.ctx, action_id=args.number, actor=call.actor)
    return Reply(f"{item.ref} done: {item.title}.")


def actions(call: Call, args: Args) -> Reply:
    """Open items: `mine`, a team, `all`; by default this channel's incident (else all)."""
    ctx, word = call.ctx, args.text.lower()
    here = channel_incident(ctx, call.channel) if not word else None
    if word == "mine":
        items, scope = action_items.open_actions(ctx, owner=call.actor), "of yours"
    elif word and word != "all":
        team = ctx.catalog.team(word)
        items, scope = action_items.open_actions(ctx, team=team.id), f"of {team.name}"
    elif here is not None:
        items, scope = action_items.open_actions(ctx, incident_id=here), f"of INC-{here}"
    else:
        items, scope = action_items.open_actions(ctx), ""
    return Reply(render("actions_list", items=items, scope=scope, owner=call.mention,
                        today=action_items.today(ctx)))


def handoff(call: Call, args: Args) -> Reply:
    done = hand_off(call.ctx, incident_id=call.incident_id(args), to=args.text, actor=call.actor)
    return Reply(f"Handed {done.incident.ref} over to {call.ctx.display(done.incident.commander)}; "
                 "the summary is in the channel.")


def cause(call: Call, args: Args) -> Reply:
    incident_id = call.incident_id(args)
    tagged = postmortems.tag_cause(call.ctx, incident_id=incident_id, tag=args.text, actor=call.actor)
    text = f"Cause of INC-{incident_id}: `{tagged.cause}`."
    return Reply(f"{text} This is the {tagged.sentence}." if tagged.sentence else text)
