"""Checking the catalog: the line of each problem, its wording, and the cross-references.

`parse_catalog` (workflows.catalog.model) validates the models; this module finds the lines of the
problems in the YAML, formats them, and checks references between sections on the raw data so
that they are found even when other parts are invalid.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import Any

import yaml

from workflows.catalog.model import (
    _SECTIONS,
    DEFAULT_MATRIX,
    DEFAULT_RESPONSE,
    Access,
)

_Located = tuple[int | None, tuple[Any, ...], str]
_MESSAGES = {
    "missing": "missing required key",
    "extra_forbidden": "unknown key",
    "too_short": "must not be empty",
}


def message_of(error: Any) -> str:
    loc = error["loc"]
    if error["type"] == "extra_forbidden" and len(loc) == 2 and loc[0] == "access":
        verbs = [verb for verb in Access.model_fields if verb != "act"]
        return _unknown("verb", str(loc[1]), verbs) + f" (verbs: act, {', '.join(verbs)})"
    message = _MESSAGES.get(error["type"], error["msg"])
    return re.sub(r"^(Value error|Assertion failed), ", "", message)


def format_problem(source: str, line: int | None, loc: tuple[Any, ...], message: str) -> str:
    path = "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in loc).lstrip(".")
    return f"{source}{f':{line}' if line else ''}: {f'{path}: ' if path else ''}{message}"


def line_of(root: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """The line of the deepest node of `loc` that exists in the YAML (1-based)."""
    node, line = root, None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            entry = next(((k, v) for k, v in node.value if k.value == str(key)), None)
            if entry is None:
                break
            line, node = entry[0].start_mark.line + 1, entry[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            break
    return line


def duplicate_keys(node: yaml.Node | None, loc: tuple[Any, ...]) -> Iterable[_Located]:
    # PyYAML silently keeps the last of two equal keys; a second `overrides:` would vanish.
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            if key.value in seen:
                message = "duplicate key (the later one would silently win)"
                yield key.start_mark.line + 1, (*loc, key.value), message
            seen.add(key.value)
            yield from duplicate_keys(value, (*loc, key.value))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            yield from duplicate_keys(item, (*loc, i))


def _items(data: Any, key: str) -> list[tuple[int, dict[str, Any]]]:
    value = data.get(key) if isinstance(data, dict) else None
    return (
        [(i, x) for i, x in enumerate(value) if isinstance(x, dict)]
        if isinstance(value, list)
        else []
    )


def _unknown(kind: str, name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f"unknown {kind} {name!r}" + (f" (did you mean {close[0]!r}?)" if close else "")


def check_references(data: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    """Cross-references, on the raw data so they are found even when other parts are invalid."""
    found: list[tuple[tuple[Any, ...], str]] = []

    def add(message: str, *loc: Any) -> None:
        found.append((loc, message))

    ids: dict[str, set[str]] = {}
    for section, kind in _SECTIONS:
        first: dict[str, int] = {}
        for i, item in _items(data, section):
            id = item.get("id")
            if isinstance(id, str) and id in first:
                add(
                    f"duplicate {kind} id {id!r} (first at {section}[{first[id]}])",
                    section,
                    i,
                    "id",
                )
            elif isinstance(id, str):
                first[id] = i
        ids[kind] = set(first)
    groups = data.get("escalation_groups")
    ids["group"] = set(groups) if isinstance(groups, dict) else set()
    staffed = {s.get("team") for _, s in _items(data, "schedules")}
    owners: dict[str, Any] = {}
    for i, person in _items(data, "people"):
        for field in ("slack", "teams"):
            chat_id, owner = person.get(field), person.get("id")
            if isinstance(chat_id, str) and owners.setdefault(chat_id, owner) != owner:
                add(f"{field} id {chat_id!r} is also {owners[chat_id]!r}'s", "people", i, field)

    def ref(kind: str, name: Any, *loc: Any) -> None:
        if isinstance(name, str) and name not in ids[kind]:
            add(_unknown(kind, name, ids[kind]), *loc)

    def target(value: Any, *loc: Any) -> None:
        kind, sep, name = value.partition(":") if isinstance(value, str) else ("person", "", None)
        kind, name = (kind, name) if sep else ("person", value)
        if kind not in ("schedule", "person", "team", "group"):
            add(f"unknown target {value!r} (use schedule:, person:, team: or group:)", *loc)
        elif kind == "team" and name in ids["team"] and name not in staffed:
            add(f"team {name!r} has no schedules to page", *loc)
        else:
            ref(kind, name, *loc)

    for i, team in _items(data, "teams"):
        ref("policy", team.get("escalation_policy"), "teams", i, "escalation_policy")
    for i, service in _items(data, "services"):
        ref("team", service.get("team"), "services", i, "team")
    for i, schedule in _items(data, "schedules"):
        ref("team", schedule.get("team"), "schedules", i, "team")
        rotations: list[tuple[tuple[Any, ...], Any]] = [(("rotation",), schedule.get("rotation"))]
        rotations += [(("layers", j), layer) for j, layer in _items(schedule, "layers")]
        for where, rotation in rotations:
            members = rotation.get("members") if isinstance(rotation, dict) else None
            for k, member in enumerate(members if isinstance(members, list) else []):
                ref("person", member, "schedules", i, *where, "members", k)
        for j, override in _items(schedule, "overrides"):
            ref("person", override.get("person"), "schedules", i, "overrides", j, "person")
    for i, policy in _items(data, "escalation_policies"):
        for j, step in _items(policy, "steps"):
            notify = step.get("notify")
            for k, value in enumerate(notify if isinstance(notify, list) else [notify]):
                target(value, "escalation_policies", i, "steps", j, "notify", k)
    for i, clock in _items(data, "notification_clocks"):
        ref("group", clock.get("page_group"), "notification_clocks", i, "page_group")
    for name, members in groups.items() if isinstance(groups, dict) else ():
        for k, value in enumerate(members if isinstance(members, list) else []):
            target(value, "escalation_groups", name, k)
    page = data["status_page"] if isinstance(data.get("status_page"), dict) else {}
    shown = page.get("services")
    for k, value in enumerate(shown if isinstance(shown, list) else []):
        ref("service", value, "status_page", "services", k)
    hosted = page["statuspage"] if isinstance(page.get("statuspage"), dict) else {}
    components = hosted.get("components")
    for value in components if isinstance(components, dict) else ():
        ref("service", value, "status_page", "statuspage", "components", value)

    # Every priority the matrix can produce needs a response, and every row all urgencies.
    priorities = data["priorities"] if isinstance(data.get("priorities"), dict) else {}
    matrix = priorities.get("matrix", DEFAULT_MATRIX)
    response = priorities.get("response", DEFAULT_RESPONSE)
    defined = set(response) if isinstance(response, dict) else set()
    rows = (
        [(k, v) for k, v in matrix.items() if isinstance(v, dict)]
        if isinstance(matrix, dict)
        else []
    )
    for severity, row in rows:
        for urgency, priority in row.items():
            if isinstance(priority, str) and priority not in defined:
                add(_no_response(priority), "priorities", "matrix", severity, urgency)
        if missing := ", ".join(sorted(map(str, set(rows[0][1]) - set(row)))):
            add(f"no priority for urgency {missing}", "priorities", "matrix", severity)
    nonproduction = priorities.get("nonproduction", "P3")
    if isinstance(nonproduction, str) and defined and nonproduction not in defined:
        add(_no_response(nonproduction), "priorities", "nonproduction")
    return found


def _no_response(priority: str) -> str:
    return f"priority {priority!r} has no entry in priorities.response"
