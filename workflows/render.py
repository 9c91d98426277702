"""Words live in templates/*.j2, rendered in a sandbox with strict undefined variables."""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    FileSystemLoader,
    PackageLoader,
    StrictUndefined,
    TemplateError,
)
from jinja2.sandbox import SandboxedEnvironment

from workflows.ports import FirebellError


def templates_loader() -> BaseLoader:
    """Firebell's own templates: package data of the `templates` package, found through its
    import spec, so a wheel install reads them as the source tree does."""
    return PackageLoader("templates", ".")


class TemplateProblem(FirebellError):
    pass


def _local(value: Any, zone: str = "UTC", fmt: str = "%Y-%m-%d %H:%M %Z") -> str:
    return str(value.astimezone(ZoneInfo(zone)).strftime(fmt)) if value else "—"


@lru_cache(maxsize=8)
def environment(extra_dir: str | None = None) -> SandboxedEnvironment:
    own = templates_loader()
    env = SandboxedEnvironment(
        loader=ChoiceLoader([FileSystemLoader(extra_dir), own]) if extra_dir else own,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        autoescape=False,
        # Firebell's own templates change only with a new release: checking each one's file
        # for changes at every render is wasted on a busy ack path (issue 16). An operator's
        # own template (`extra_dir`, e.g. a team's postmortem) is read again when edited.
        auto_reload=extra_dir is not None,
    )
    env.filters["local"] = _local
    return env


def render(name: str, *, extra_dir: str | None = None, **values: Any) -> str:
    """Render `templates/<name>.j2`. A broken template is an error, never half a text."""
    try:
        return environment(extra_dir).get_template(f"{name}.j2").render(**values).strip()
    except TemplateError as error:
        raise TemplateProblem(f"template {name}.j2: {error}") from error
