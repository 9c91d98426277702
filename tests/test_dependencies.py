"""pyproject declares what the code imports, and nothing it does not.

Every module is read (ast, no import): the product (app.py, bot/, workflows/, adapters/,
storage/) against `[project] dependencies`, the tests against those plus the `dev` extra, the
benchmarks against those plus `bench`. Import names are mapped to distributions with
`importlib.metadata.packages_distributions()`.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions

from tests.support.paths import ROOT

PRODUCT = ["app.py", "bot", "workflows", "adapters", "storage"]
OURS = {"app", "bot", "workflows", "adapters", "storage", "templates", "examples", "tests",
        "bench"}

# Declared and never imported, on purpose: each says why.
NOT_IMPORTED = {
    "psycopg": "the PostgreSQL driver: SQLAlchemy loads it for postgresql+psycopg:// URLs",
    "pytest-timeout": "a pytest plugin, configured by `timeout` in [tool.pytest.ini_options]",
    "ruff": "the linter, run as a command",
    "mypy": "the type checker, run as a command",
    "types-pyyaml": "type stubs mypy reads",
}


def _name(requirement: str) -> str:
    """The distribution of a requirement string, normalised (PEP 503)."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group(1)).lower()


def _declared() -> dict[str, set[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    groups = {"runtime": {_name(r) for r in project["dependencies"]}}
    for extra, requirements in project.get("optional-dependencies", {}).items():
        groups[extra] = {_name(r) for r in requirements}
    return groups


def _imported(*areas: str) -> dict[str, set[str]]:
    """Third-party top-level import names -> the files importing them."""
    found: dict[str, set[str]] = {}
    for area in areas:
        root = ROOT / area
        for path in [root] if root.is_file() else sorted(root.rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top not in OURS and top not in sys.stdlib_module_names:
                        found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def _distributions(imported: dict[str, set[str]]) -> dict[str, set[str]]:
    """Distribution (normalised) -> the files importing it; an import nothing installed
    provides is reported under its own name."""
    providers = packages_distributions()
    found: dict[str, set[str]] = {}
    for module, files in imported.items():
        for distribution in providers.get(module, [module]):
            found.setdefault(_name(distribution), set()).update(files)
    return found


def test_the_product_imports_exactly_its_declared_dependencies() -> None:
    declared = _declared()["runtime"]
    imported = _distributions(_imported(*PRODUCT))
    undeclared = {d: sorted(files)[:3] for d, files in imported.items() if d not in declared}
    assert undeclared == {}, "imported by the product, not in [project] dependencies"
    unused = sorted(declared - imported.keys() - NOT_IMPORTED.keys())
    assert unused == [], "in [project] dependencies, imported by nothing in the product"


def test_the_tests_import_only_what_runtime_and_dev_declare() -> None:
    declared = _declared()
    allowed = declared["runtime"] | declared["dev"]
    imported = _distributions(_imported("tests"))
    undeclared = {d: sorted(files)[:3] for d, files in imported.items() if d not in allowed}
    assert undeclared == {}, "imported by the tests, declared neither at run time nor in dev"
    unused = sorted(declared["dev"] - imported.keys() - NOT_IMPORTED.keys())
    assert unused == [], "in the dev extra, imported by no test"


def test_the_benchmarks_import_only_what_runtime_dev_and_bench_declare() -> None:
    declared = _declared()
    allowed = declared["runtime"] | declared["dev"] | declared["bench"]
    imported = _distributions(_imported("bench"))
    undeclared = {d: sorted(files)[:3] for d, files in imported.items() if d not in allowed}
    assert undeclared == {}, "imported by bench/, declared nowhere"
    unused = sorted(declared["bench"] - imported.keys())
    assert unused == [], "in the bench extra, imported by no benchmark"
    product = _distributions(_imported(*PRODUCT)).keys()
    assert declared["bench"] & product == set(), "the product needs it: a run-time dependency"


def test_the_allowances_are_still_declared() -> None:
    declared = set().union(*_declared().values())
    assert sorted(NOT_IMPORTED.keys() - declared) == []
