"""Where the repository and its example catalogs are, for every test tier."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
EXAMPLES = ROOT / "examples"
DEMO_CATALOG = EXAMPLES / "demo.yaml"
