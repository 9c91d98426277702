"""Replies of the follow commands: `/incident subscribe|unsubscribe [INC-n]` (one incident) and
`/oncall subscribe|unsubscribe <service>`, `/oncall subscriptions` (stakeholder updates). The
routes are in `bot/command_table.py`; the rules in `workflows/stakeholders.py`."""

from __future__ import annotations

from bot.invocation import Args, Call, Reply
from workflows import stakeholders
from workflows.ports import InvalidRequest
from workflows.render import render


def follow_incident(call: Call, args: Args) -> Reply:
    following = stakeholders.subscribe(call.ctx, person=call.actor,
                                       incident_id=_incident_only(call, args, "subscribe"))
    return Reply(render("subscribed", following=following, on=True))


def unfollow_incident(call: Call, args: Args) -> Reply:
    following = stakeholders.unsubscribe(call.ctx, person=call.actor,
                                         incident_id=_incident_only(call, args, "unsubscribe"))
    return Reply(render("subscribed", following=following, on=False))


def follow_service(call: Call, args: Args) -> Reply:
    following = stakeholders.subscribe(call.ctx, person=call.actor, service=args.text)
    return Reply(render("subscribed", following=following, on=True))


def unfollow_service(call: Call, args: Args) -> Reply:
    following = stakeholders.unsubscribe(call.ctx, person=call.actor, service=args.text)
    return Reply(render("subscribed", following=following, on=False))


def followed(call: Call, args: Args) -> Reply:
    return Reply(render("subscriptions",
                        followed=stakeholders.subscriptions(call.ctx, person=call.actor)))


def _incident_only(call: Call, args: Args, verb: str) -> int:
    if args.text:
        raise InvalidRequest(f"`/incident {verb} [INC-n]` takes an incident only; for a "
                             f"service: `/oncall {verb} <service>`")
    return call.incident_id(args)
