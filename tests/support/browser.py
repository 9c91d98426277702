"""Debian's headless Chromium for the browser tests (the status page, the web view)."""

from __future__ import annotations

import os
import shutil

import pytest


def chromium() -> str:
    """The browser's path; a failure in CI (.ci/run installs it), a skip elsewhere."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI (.ci/run installs Debian's chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium); CI runs this")
    return found
