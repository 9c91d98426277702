"""Markdown export: `GET /api/v1/incidents/{id}/postmortem` and `firebell postmortem <id>`."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

import app
from bot.postmortem_routes import postmortem_routes
from storage.db import upgrade
from storage.store import SqlStore
from tests.support.catalogs import FOLLOWUPS
from tests.support.world import World
from workflows.followup import postmortem
from workflows.incident import lifecycle


def test_endpoint_serves_the_stored_draft_as_markdown(store: SqlStore, start_time: datetime) -> None:
    world = World.for_followups(store, start_time)
    incident = world.declare()
    assert incident.id is not None
    lifecycle.resolve(world.ctx, incident_id=incident.id, actor="alice")
    draft = postmortem.draft_postmortem(world.ctx, incident_id=incident.id, actor="alice")
    http = TestClient(Starlette(routes=postmortem_routes(SimpleNamespace(ctx=world.ctx))))  # type: ignore[arg-type]
    answer = http.get(f"/api/v1/incidents/INC-{incident.id}/postmortem")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/markdown")
    assert answer.text == draft.text + "\n"
    assert http.get("/api/v1/incidents/999/postmortem").status_code == 404
    assert http.get("/api/v1/incidents/abc/postmortem").status_code == 400


def test_cli_prints_a_fresh_draft_when_none_is_stored(
    tmp_path: Path, start_time: datetime, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = f"sqlite:///{tmp_path / 'firebell.db'}"
    upgrade(url)
    catalog = tmp_path / "firebell.yaml"
    catalog.write_text(FOLLOWUPS)
    store = SqlStore(url)
    incident = World.for_followups(store, start_time).declare()
    store.dispose()
    monkeypatch.setenv("FIREBELL_CONFIG", str(catalog))
    monkeypatch.setenv("DATABASE_URL", url)
    assert app.main(["postmortem", f"INC-{incident.id}"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"# Postmortem: INC-{incident.id} Checkout is down") and "## Timeline" in out
    assert app.main(["postmortem", "42"]) == 1
    assert "there is no incident 42" in capsys.readouterr().err
