"""`firebell demo`: the scripted incident plays out in order, offline, and leaves a postmortem draft."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from app import build_console_context
from bot.console.demo import run_demo
from storage.store import SqlStore
from tests.support.cli import run_firebell
from tests.support.paths import DEMO_CATALOG


def _in_order(text: str, *needles: str) -> None:
    """Each needle occurs in `text`, each after the one before it."""
    position = 0
    for needle in needles:
        found = text.find(needle, position)
        assert found >= 0, f"{needle!r} not found after position {position}"
        position = found + len(needle)


def test_demo_plays_the_whole_incident_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    database = tmp_path / "demo.db"
    out = io.StringIO()

    assert run_demo(catalog_path=DEMO_CATALOG, speed=0, build=build_console_context, database=str(database), stdout=out) == 0

    text = out.getvalue()
    _in_order(
        text,
        "[09:30:00] 🔔 Alertmanager",
        # Pages first: they never wait for the channel.
        "[09:30:00] 📟 SMS to Alice Doe (+15550100001): You are paged for INC-1 (P1)",
        "[09:30:00] 💬 DM to Alice Doe",
        "[Acknowledge: /incident ack 1]",
        "── channel #inc-20261124-1-checkout-down created ──",
        "[09:30:30] 📟 SMS to Bob Brandt (+15550100002)",
        "escalating to step 2: paging Bob Brandt",
        "Bob Brandt › /incident ack 1",
        "✅ Bob Brandt acknowledged INC-1 after 40s",
        "Incident commander: Bob Brandt",
        "Stage: *Investigating*",
        "⏳ No status update on INC-1 for 1m",
        "Stage: *Identified*",
        "🩹 INC-1 mitigated by Bob Brandt",
        "Stage: *Monitoring*",
        "🟢 INC-1 resolved by Bob Brandt",
        "[09:35:20] #inc-20261124-1-checkout-down  firebell: 🔒 INC-1 is closed",
        "Timeline of INC-1",
        "TTA 40s · TTM 2m30s · TTR 3m20s",
        "Postmortem draft written to",
    )
    # Alice did not acknowledge, so nobody else was paged after Bob answered.
    assert "SMS to Erin" not in text

    store = SqlStore(f"sqlite:///{database}")
    try:
        with store.transaction() as tx:
            kinds = [event.kind for event in tx.events(1)]
            incident = tx.get_incident(1)
    finally:
        store.dispose()
    assert incident.state.value == "closed" and incident.acknowledged_by == "bob"
    assert incident.commander == "bob"
    story = [
        "declared",
        "paged",
        "escalated",
        "acknowledged",
        "role_set",
        "status_update",
        "update_reminder",
        "status_update",
        "mitigated",
        "status_update",
        "resolved",
        "closed",
    ]
    remaining = iter(kinds)
    assert all(kind in remaining for kind in story), kinds  # a subsequence, in this order

    postmortem = tmp_path / "postmortem-INC-1.md"
    assert postmortem.exists()
    draft = postmortem.read_text(encoding="utf-8")
    _in_order(
        draft,
        "# Postmortem draft: INC-1 Checkout down",
        "## Summary",
        "## Impact",
        "## Metrics",
        "| Time to acknowledge (TTA) | 40s |",
        "## Timeline",
        "| 09:30:30 | escalated |",
        "| 09:35:20 | closed |",
        "## Action items",
    )


def test_demo_twice_on_one_database_numbers_the_second_incident(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    database = str(tmp_path / "demo.db")
    for _ in range(2):
        assert (
            run_demo(catalog_path=DEMO_CATALOG, speed=0, build=build_console_context, database=database, stdout=io.StringIO())
            == 0
        )
    assert (tmp_path / "postmortem-INC-2.md").exists()


@pytest.mark.slow
def test_firebell_demo_command_exits_zero(tmp_path: Path) -> None:
    serve_db = tmp_path / "firebell.db"
    result = run_firebell("demo", "--speed", "0", cwd=tmp_path,
                          env={"DATABASE_URL": f"sqlite:///{serve_db}"})
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "INC-1 is closed" in result.stdout
    assert (tmp_path / "postmortem-INC-1.md").exists()
    # A sandbox: a temporary database, named in the banner; serve's is never touched.
    banner = result.stdout.splitlines()[1]
    assert banner.startswith("Database sqlite:///") and "demo.db (temporary" in banner, banner
    assert not serve_db.exists()


def test_demo_given_serves_database_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    serve_db = tmp_path / "firebell.db"
    out = io.StringIO()
    assert run_demo(catalog_path=DEMO_CATALOG, speed=0, build=build_console_context, database=str(serve_db), stdout=out,
                    serve_database="sqlite:///firebell.db") == 0
    banner = out.getvalue().splitlines()[1]
    assert banner.startswith(f"Database sqlite:///{serve_db} — ⚠ the database `firebell serve`")
