"""Firebell's own templates are not checked for edits at each render (issue 16: a stat per
template per render on the ack path); an operator's own template still is."""

from __future__ import annotations

import os
from pathlib import Path

from workflows.render import environment, render


def test_own_templates_are_not_checked_for_edits() -> None:
    assert environment().auto_reload is False
    assert environment("/an/operators/dir").auto_reload is True


def test_an_operators_template_is_read_again_when_edited(tmp_path: Path) -> None:
    template = tmp_path / "ours.j2"
    template.write_text("first {{ n }}")
    assert render("ours", extra_dir=str(tmp_path), n=1) == "first 1"
    template.write_text("second {{ n }}")
    os.utime(template, (template.stat().st_mtime + 5,) * 2)  # a newer mtime, whatever the clock
    assert render("ours", extra_dir=str(tmp_path), n=2) == "second 2"
