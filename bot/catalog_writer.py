"""Writing an imported catalog as YAML a person will read and edit.

Sections and keys in the order the importer gave them, every list item of people, teams and
services on one line where it fits (as the catalog's own example writes them), and each note of
a lossy mapping as a comment above the place it is about.
"""

from __future__ import annotations

import io
import re
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import SingleQuotedScalarString

from workflows.catalog.imported import Imported

WIDTH = 100  # an entry whose keys are all plain values is written on one line up to this width
_RESOLVER, _STR = yaml.resolver.Resolver(), "tag:yaml.org,2002:str"
_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def catalog_yaml(imported: Imported, *, command: str) -> str:
    """The catalog of `imported` as YAML text, its notes as comments; `command` is named in the
    header ("firebell import pagerduty")."""
    root = _commented(imported.catalog)
    for where, lines in sorted(imported.comments.items()):
        _comment(root, where, lines)
    yaml = YAML(typ="rt")
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096  # never fold a long string over lines
    out = io.StringIO()
    yaml.dump(root, out)
    header = (f"# Firebell catalog imported from {imported.source} by `{command}`.\n"
              "# Comments mark what the import could not say exactly: check them, then run\n"
              "# `firebell config check` and `firebell simulate --service <id>`.\n")
    return header + out.getvalue()


def _commented(value: Any) -> Any:
    if isinstance(value, dict):
        made = CommentedMap((key, _commented(item)) for key, item in value.items())
        if value and all(_plain(item) for item in value.values()) and _one_line_fits(value):
            made.fa.set_flow_style()
        return made
    if isinstance(value, list):
        seq = CommentedSeq(_commented(item) for item in value)
        if value and all(isinstance(item, str | int | float) for item in value):
            seq.fa.set_flow_style()  # members: [alice, bob]
        return seq
    if isinstance(value, str) and _RESOLVER.resolve(yaml.ScalarNode, value, (True, False)) != _STR:
        # The catalog is read with PyYAML (YAML 1.1): unquoted, 18:00 is a number, `no` false.
        return SingleQuotedScalarString(value)
    return value


def _plain(value: Any) -> bool:
    return (not isinstance(value, dict | list)
            or (isinstance(value, list) and all(not isinstance(i, dict | list) for i in value))
            or (isinstance(value, dict) and all(not isinstance(i, dict | list)
                                                for i in value.values())))


def _one_line_fits(value: dict[str, Any]) -> bool:
    return len(repr(value)) <= WIDTH


def _comment(root: CommentedMap, where: str, lines: list[str]) -> None:
    """Put `lines` as comments above `where` ("schedules[2].layers[0]", "services")."""
    steps = [(name, int(index) if index else None) for name, index in _STEP.findall(where)]
    node: Any = root
    column = 0  # where the keys of `node` (a mapping) start
    parent: Any = None
    last: Any = None
    for step, (name, index) in enumerate(steps):
        if name:
            parent, last = node, name
            if step == len(steps) - 1:
                break
            node = node[name]
            column += 2 if isinstance(node, dict) else 0
        else:
            assert index is not None
            parent, last = node, index
            if step == len(steps) - 1:
                column += 2  # the dash of an item sits two in from its key
                break
            node = node[index]
            column += 4
    if parent is None or (isinstance(parent, dict) and last not in parent):
        return
    text = "\n".join(_wrapped(lines))
    if isinstance(parent, CommentedSeq) and parent.fa.flow_style():
        # A one-line list ([alice, bob]) has no room for comments: above the key that holds it.
        up = where[: where.rindex("[")]
        if up:
            _comment(root, up, lines)
        return
    if isinstance(parent, CommentedMap) and parent.fa.flow_style():
        parent.fa.set_block_style()
    parent.yaml_set_comment_before_after_key(last, before=text, indent=column)


def _wrapped(lines: list[str]) -> list[str]:
    import textwrap

    out: list[str] = []
    for line in lines:
        out += textwrap.wrap(line, width=88, subsequent_indent="  ") or [""]
    return out
