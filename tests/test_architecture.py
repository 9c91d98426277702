"""The dependency direction of DESIGN.md, checked so it cannot rot."""

from __future__ import annotations

import ast
from pathlib import Path

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
