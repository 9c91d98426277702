"""Running the `firebell` command as a user would: a subprocess, its output as text."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.paths import ROOT


def run_firebell(
    *args: str, cwd: Path, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`firebell <args>` (the installed script, else `python app.py`) in `cwd`, UTF-8 out.

    `env` is added to this process's environment.
    """
    firebell = Path(sys.executable).parent / "firebell"
    command = [str(firebell)] if firebell.exists() else [sys.executable, str(ROOT / "app.py")]
    return subprocess.run(
        [*command, *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        env={**os.environ, "PYTHONIOENCODING": "utf-8", **(env or {})},
        timeout=120,
    )
