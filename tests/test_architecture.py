"""The dependency direction of DESIGN.md, checked so it cannot rot."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN_IN_WORKFLOWS = {
    "slack_bolt", "slack_sdk", "botbuilder", "twilio", "httpx", "requests", "jira", "github",
    "sqlmodel", "sqlalchemy", "alembic", "starlette", "uvicorn", "bot", "adapters", "storage", "app",
}
FORBIDDEN_IN_STORAGE = {"slack_bolt", "slack_sdk", "botbuilder", "twilio", "bot", "adapters", "app"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _violations(package: str, forbidden: set[str]) -> list[str]:
    return [
        f"{path.relative_to(ROOT)} imports {sorted(_imports(path) & forbidden)}"
        for path in sorted((ROOT / package).rglob("*.py"))
        if _imports(path) & forbidden
    ]


def test_workflows_import_no_platform_or_io_code() -> None:
    assert _violations("workflows", FORBIDDEN_IN_WORKFLOWS) == []


def test_storage_knows_nothing_about_chat() -> None:
    assert _violations("storage", FORBIDDEN_IN_STORAGE) == []


def test_only_app_reads_the_environment() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for package in ("workflows", "storage", "adapters", "bot")
        for path in (ROOT / package).rglob("*.py")
        if "os.environ" in path.read_text() or "getenv(" in path.read_text()
    ]
    assert offenders == []


# The whole whiteboard -------------------------------------------------------------------------
# bot/ (front-ends) -> workflows/ <- adapters/, storage/; app.py alone wires them together.
PACKAGES = ("app.py", "bot", "workflows", "adapters", "storage")


def _modules() -> dict[str, Path]:
    """Every module of the product (not tests, not bench), by dotted name."""
    found: dict[str, Path] = {}
    for package in PACKAGES:
        base = ROOT / package
        for path in [base] if base.suffix == ".py" else sorted(base.rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def _graph() -> dict[str, set[str]]:
    """Module -> the product modules it imports, anywhere in it (inside functions and under
    TYPE_CHECKING too: a circle of types is still a circle a reader has to untie)."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names if a.name in modules)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    if full in modules:
                        targets.add(full)
                    elif node.module in modules:
                        targets.add(node.module)
        targets.discard(name)
        graph[name] = targets
    return graph


def _arrows(source: str, target: str) -> list[str]:
    return sorted(f"{module} -> {imported}" for module, imports in _graph().items()
                  if module.split(".")[0] == source
                  for imported in imports if imported.split(".")[0] == target)


@pytest.mark.parametrize(("source", "target"), [
    ("bot", "adapters"),      # front-ends reach the outside world through ports only
    ("adapters", "bot"),
    ("storage", "bot"),
    ("workflows", "bot"), ("workflows", "adapters"), ("workflows", "storage"),
])
def test_no_arrow_against_the_grain(source: str, target: str) -> None:
    assert _arrows(source, target) == []


def test_nothing_imports_the_composition_root() -> None:
    assert [m for m, imports in _graph().items() if "app" in imports] == []


def test_no_import_circle_anywhere() -> None:
    graph = _graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(module: str) -> None:  # Tarjan's strongly connected components
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in sorted(graph[module]):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            members = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                members.append(member)
                if member == module:
                    break
            if len(members) > 1:
                circles.append(sorted(members))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    assert circles == []


def test_the_checks_see_the_modules() -> None:
    """The graph is not empty by accident: a known arrow is found."""
    assert "workflows.context" in _graph()["workflows.incident.declare"]
