"""Words live in templates: every template is rendered by some code, and the workflows hand the
templates facts instead of sentences through a pass-through template."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ["app.py", "bot", "workflows", "adapters", "storage"]


def _modules() -> list[Path]:
    found: list[Path] = []
    for part in PRODUCT:
        path = ROOT / part
        found.extend([path] if path.is_file() else sorted(path.rglob("*.py")))
    return found


def _rendered_names() -> set[str]:
    """The first argument of every `render("...")` call, and every string handed to a call as
    the name of a template (the demo's postmortem is named in a keyword argument)."""
    names: set[str] = set()
    for module in _modules():
        for node in ast.walk(ast.parse(module.read_text(), str(module))):
            if isinstance(node, ast.Call):
                arguments = [*node.args, *(k.value for k in node.keywords)]
                names.update(a.value for a in arguments
                             if isinstance(a, ast.Constant) and isinstance(a.value, str))
    return names


def test_every_template_is_rendered_by_some_code() -> None:
    templates = {path.name.removesuffix(".j2") for path in (ROOT / "templates").glob("*.j2")}
    assert templates - _rendered_names() == set()


def test_no_workflow_passes_a_preformatted_sentence_through_a_template() -> None:
    """`render("notice", text=f"...")` hid the words in code; each message has its template."""
    assert not (ROOT / "templates" / "notice.j2").exists()
    offenders = []
    for module in _modules():
        for node in ast.walk(ast.parse(module.read_text(), str(module))):
            if (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "render"
                    and node.args and isinstance(node.args[0], ast.Constant)
                    and node.args[0].value == "notice"):
                offenders.append(f"{module.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []
