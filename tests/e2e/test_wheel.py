"""A non-editable install works: the wheel carries its templates, example catalogs and
migrations, and `firebell demo` and the console run from it, far from the source tree.

The wheel is built from a copy of the source (so no `build/` lands in the work tree) and
installed `--no-deps` into a fresh venv that sees this interpreter's installed dependencies
through a `.pth` line (no network, no editable finder: `.pth` files of a directory added that
way are not run). CI also installs the wheel with its dependencies from the registry
(.ci/run).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.support.paths import ROOT

pytestmark = pytest.mark.slow

NOT_SHIPPED = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis",
    "*.db", "*.db-*", "tests", "bench", "postmortem-*.md",
)


def _run(command: list[str], *, cwd: Path, env: dict[str, str], stdin: str | None = None
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, env=env, input=stdin, capture_output=True,
                          text=True, encoding="utf-8", timeout=240)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the venv with the wheel installed, the wheel)."""
    base = tmp_path_factory.mktemp("wheel")
    source = base / "source"
    shutil.copytree(ROOT, source, ignore=NOT_SHIPPED)
    wheels = base / "wheels"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", str(source), "-w", str(wheels)],
        capture_output=True, text=True, timeout=300,
    )
    assert built.returncode == 0, built.stderr
    [wheel] = wheels.glob("firebell-*.whl")

    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    dependencies = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(site) / "firebell_test_dependencies.pth").write_text("\n".join(sorted(dependencies)))
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
         "--no-index", "-q", str(wheel)],
        capture_output=True, text=True, timeout=300,
    )
    assert install.returncode == 0, install.stderr
    return venv, wheel


def _environment(home: Path) -> dict[str, str]:
    """A bare environment: no settings of this machine, nothing pointing at the source tree."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
            "PYTHONIOENCODING": "utf-8", "PYTHONNOUSERSITE": "1"}


def test_the_wheel_carries_every_template_catalog_and_migration(
        installed: tuple[Path, Path]) -> None:
    _, wheel = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    wanted = [path.relative_to(ROOT).as_posix() for pattern in (
        "templates/*.j2", "examples/*.yaml", "storage/migrations/versions/*.py",
        "storage/migrations/*.mako", "storage/migrations/env.py",
    ) for path in ROOT.glob(pattern)]
    assert len(wanted) > 80
    assert [name for name in wanted if name not in names] == []


def test_the_installed_code_is_the_wheel_not_the_source_tree(
        installed: tuple[Path, Path], tmp_path: Path) -> None:
    venv, _ = installed
    found = _run([str(venv / "bin" / "python"), "-c",
                  "import app, templates, examples, storage.db; "
                  "print(app.__file__, templates.__file__, app.DEMO_CATALOG, storage.db.MIGRATIONS)"],
                 cwd=tmp_path, env=_environment(tmp_path))
    assert found.returncode == 0, found.stderr
    paths = found.stdout.split()
    assert len(paths) == 4
    for path in paths:
        assert Path(path).resolve().is_relative_to(venv.resolve()), path


def test_firebell_demo_runs_from_the_wheel(installed: tuple[Path, Path], tmp_path: Path) -> None:
    venv, _ = installed
    demo = _run([str(venv / "bin" / "firebell"), "demo", "--speed", "0"], cwd=tmp_path,
                env=_environment(tmp_path))
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-2000:]
    assert "Postmortem draft" in demo.stdout
    assert "Traceback" not in demo.stdout + demo.stderr
    assert (tmp_path / "postmortem-INC-1.md").read_text(encoding="utf-8").startswith("#")


def test_a_console_declaration_from_the_wheel(installed: tuple[Path, Path], tmp_path: Path) -> None:
    venv, _ = installed
    console = _run(
        [str(venv / "bin" / "firebell"), "console"], cwd=tmp_path, env=_environment(tmp_path),
        stdin="/incident declare service=checkout severity=critical urgency=high Checkout down\n"
              "/quit\n",
    )
    assert console.returncode == 0, console.stdout[-2000:] + console.stderr[-2000:]
    assert "firebell (to alice): Declared INC-1 (P1) in #inc-" in console.stdout
    assert "📟 SMS to Alice Doe (+15550100001): You are paged for INC-1" in console.stdout
    assert "not found" not in console.stdout
    assert (tmp_path / "firebell-console.db").exists()  # the console's own sandbox, here
