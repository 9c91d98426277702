"""Grafana OnCall escalation chains as catalog escalation policies.

OnCall runs a chain's steps one after another: notify steps fire at once, a `wait` step holds
the chain. Firebell's step notifies, then waits its `ack_timeout` for an acknowledgement before
the next step. So notify steps in a row become one step, and the waits that follow it (summed)
become its ack timeout.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from workflows.durations import format_duration

DEFAULT_TIMEOUT = 300  # after the last notify step OnCall simply stops; Firebell needs a timeout
REPEATS = 5  # OnCall's "repeat escalation" step runs the chain again, at most 5 times

_SKIPPED = {
    "notify_whole_channel": "'notify whole Slack channel': no equivalent (Firebell pages people; "
                            "the team's channel hears of the incident anyway)",
    "resolve": "'resolve incident automatically': no equivalent, Firebell never resolves an "
               "incident on its own",
    "trigger_webhook": "'trigger webhook': no equivalent in an escalation policy (Firebell's "
                       "outgoing webhooks follow incident events)",
    "trigger_action": "'trigger action': no equivalent in an escalation policy",
    "notify_if_time_from_to": "'continue escalation only within a time window': no equivalent, "
                              "the steps after it always run",
    "notify_if_num_alerts_in_window": "'continue escalation if enough alerts': no equivalent, "
                                      "the steps after it always run",
    "notify_user_group": "'notify Slack user group': its members are not in OnCall's API",
    "declare_incident": "'declare incident': Firebell declares an incident for every routed "
                        "alert",
}


@dataclass
class MappedChain:
    steps: list[dict[str, Any]] = field(default_factory=list)
    repeat: int = 0
    notes: list[str] = field(default_factory=list)
    step_notes: dict[int, list[str]] = field(default_factory=dict)
    unmapped: list[str] = field(default_factory=list)
    by_hand: list[str] = field(default_factory=list)


def map_chain(policies: list[dict[str, Any]], *, chain_name: str, people: dict[str, str],
              schedules: dict[str, str], teams: dict[str, str]) -> MappedChain:
    """The Firebell steps of one chain (its OnCall steps in `position` order)."""
    out = MappedChain()
    targets: list[str] = []
    notes: list[str] = []
    waited = 0

    def close(timeout: int, *, default: bool = False) -> None:
        nonlocal targets, notes
        if not targets:
            return
        if default:
            notes.append(f"no wait after this step in OnCall; ack timeout "
                         f"{format_duration(timeout)} chosen")
        if notes:
            out.step_notes[len(out.steps)] = notes
        out.steps.append({"notify": targets, "ack_timeout": format_duration(timeout)})
        targets, notes = [], []

    for number, policy in enumerate(policies, start=1):
        kind = policy.get("type") or "?"
        where = f"escalation chain {chain_name!r} step {number}"
        if kind == "wait":
            waited += int(policy.get("duration") or 0)
            continue
        if waited:
            if targets:
                close(waited)
            else:
                out.notes.append(f"OnCall waits {format_duration(waited)} before step "
                                 f"{number}; Firebell pages at once")
            waited = 0
        if kind == "repeat_escalation":
            out.repeat = REPEATS
            out.notes.append(f"'repeat escalation' (OnCall repeats up to {REPEATS} times) -> "
                             f"repeat: {REPEATS}")
            if number < len(policies):
                out.unmapped.append(f"{where}: steps after 'repeat escalation' never run; "
                                    "not imported")
            break
        found = _targets(policy, kind, people=people, schedules=schedules, teams=teams,
                         notes=notes, where=where, out=out)
        if found is None:
            reason = _SKIPPED.get(kind, f"{kind!r}: no equivalent")
            out.unmapped.append(f"{where} {reason}, skipped")
            out.notes.append(f"step {number} {reason.split(':')[0]} was skipped")
            continue
        targets += [t for t in found if t not in targets]
        if policy.get("important"):
            notes.append("OnCall used the 'important' notification rules here; Firebell pages "
                         "by the incident's priority")
    if waited:
        close(waited)
    close(DEFAULT_TIMEOUT, default=True)
    return out


def _targets(policy: dict[str, Any], kind: str, *, people: dict[str, str],
             schedules: dict[str, str], teams: dict[str, str], notes: list[str], where: str,
             out: MappedChain) -> list[str] | None:
    """The catalog targets of one notify step; None when Firebell has no such step."""
    if kind in ("notify_persons", "notify_person_next_each_time"):
        users = policy.get("persons_to_notify") or policy.get("persons_to_notify_next_each_time")
        found = [f"person:{people[u]}" for u in users or [] if u in people]
        missing = [u for u in users or [] if u not in people]
        if missing:
            out.unmapped.append(f"{where}: unknown users {', '.join(missing)} left out")
        if kind == "notify_person_next_each_time" and len(found) > 1:
            notes.append("OnCall pages one of these people in turn, a different one each "
                         "time; Firebell pages them all")
            out.by_hand.append(f"{where}: 'notify next person each time' became 'notify all'")
        return found or None
    if kind == "notify_on_call_from_schedule":
        schedule = schedules.get(policy.get("notify_on_call_from_schedule") or "")
        return [f"schedule:{schedule}"] if schedule else None
    if kind == "notify_team_members":
        team = teams.get(policy.get("team_to_notify") or "")
        if team:
            notes.append("OnCall pages every member of the team; Firebell's team target pages "
                         "whoever is on call in the team's schedules")
            return [f"team:{team}"]
        return None
    if kind == "notify_user_group":
        out.by_hand.append(f"{where}: notify the Slack user group {policy.get('group_to_notify')}"
                           " (its members are not in OnCall's API): name the people instead")
        return None
    return None
