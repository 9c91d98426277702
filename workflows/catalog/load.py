"""Reading the catalog file: YAML in, a checked `Catalog` out, or every problem with its line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from workflows.catalog.check import (
    check_references,
    duplicate_keys,
    format_problem,
    line_of,
    message_of,
)
from workflows.catalog.model import Catalog, CatalogError


def parse_catalog(text: str, *, source: str = "firebell.yaml") -> Catalog:
    """Read catalog YAML; raises CatalogError listing every problem with its line and path."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise CatalogError([f"{source}{line}: YAML syntax error: {problem}"]) from None
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise CatalogError(
            [f"{source}: the catalog must be a mapping (timezone:, people:, teams: ...)"]
        )
    found: list[tuple[tuple[Any, ...], str]] = []
    catalog = None
    try:
        catalog = Catalog.model_validate(data)
    except ValidationError as exc:
        found += [(err["loc"], message_of(err)) for err in exc.errors(include_url=False)]
    found += check_references(data)
    if catalog is not None:
        for i, schedule in enumerate(catalog.schedules):
            for j, o in enumerate(schedule.overrides):
                if o.end <= o.start:
                    found.append(
                        (("schedules", i, "overrides", j), "override ends before it starts")
                    )
    located = list(duplicate_keys(root, ()))
    located += [(line_of(root, loc), loc, message) for loc, message in found]
    if located:
        located.sort(key=lambda item: item[0] or 10**9)
        raise CatalogError([format_problem(source, line, loc, msg) for line, loc, msg in located])
    assert catalog is not None
    return catalog


def load_catalog(path: str | Path) -> Catalog:
    """Read and check the catalog file; raises CatalogError listing every problem."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError([f"{path}: cannot read the catalog: {exc.strerror or exc}"]) from exc
    return parse_catalog(text, source=str(path))


def check_catalog(path: str | Path) -> list[str]:
    """Every problem of the catalog file, each "<file>:<line>: <path>: <message>"; [] when fine."""
    try:
        load_catalog(path)
    except CatalogError as exc:
        return exc.problems
    return []
