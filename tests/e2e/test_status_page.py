"""The public status page over the real HTTP server: an incident with a public update shows its
service as an outage with that update (JSON, HTML, and as headless Chromium renders it), the
hosted Statuspage (a local fake of its API) gets the same incident; after the resolve the
service is operational and the incident is in the history. Nothing internal leaks."""

from __future__ import annotations

import struct
import subprocess
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml

from app import Firebell, Settings, build
from bot.server import build_http_app
from tests.support.browser import chromium
from tests.support.paths import ROOT
from tests.support.slack_helpers import ThreadedServer
from tests.support.statuspage_fake import API_KEY, PAGE_ID, FakeStatuspage
from workflows.clock import FakeClock
from workflows.dispatch import drain
from workflows.incident.declare import DeclareRequest, declare
from workflows.incident.lifecycle import resolve
from workflows.incident.respond import post_status

SECRET_TITLE = "db-7 primary OOM after Bob's migration"  # internal: never on the page
PUBLIC_TEXT = "Some card payments fail; we are investigating. <b>not bold</b>"


@dataclass
class Served:
    url: str
    firebell: Firebell
    clock: FakeClock
    hosted: FakeStatuspage

    def settle(self) -> None:
        drain(self.firebell.ctx, owner="test")  # the outbox's effects, performed here

    def json(self) -> dict[str, object]:
        answer = httpx.get(f"{self.url}/status.json", timeout=10)
        assert answer.status_code == 200
        return answer.json()  # type: ignore[no-any-return]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    config = yaml.safe_load((ROOT / "examples" / "firebell.yaml").read_text())
    config["status_page"] = {
        "title": "Acme status", "services": ["checkout", "ledger", "auth"], "history_days": 14,
        "statuspage": {"components": {"checkout": "cmp-checkout"}},
    }
    (tmp_path / "firebell.yaml").write_text(yaml.safe_dump(config))
    hosted = FakeStatuspage({"cmp-checkout": "Checkout API"}).start()
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        firebell_config=str(tmp_path / "firebell.yaml"),
        database_url=f"sqlite:///{tmp_path / 'firebell.db'}",
        statuspage_api_key=API_KEY, statuspage_page_id=PAGE_ID, statuspage_api_url=hosted.api_url,
    )
    clock = FakeClock(datetime(2026, 11, 24, 9, 0, tzinfo=UTC))
    firebell = build(settings, clock=clock)
    running = ThreadedServer(build_http_app(firebell)).start()
    yield Served(running.url, firebell, clock, hosted)
    running.stop()
    hosted.stop()
    firebell.store.dispose()


def _declare(served: Served, *, title: str, service: str, severity: str = "critical",
             security: bool = False) -> int:
    incident = declare(served.firebell.ctx, DeclareRequest(
        title=title, service=service, severity=severity, urgency="high", reporter="alice",
        security=security))
    assert incident.id is not None
    return incident.id


def _component(page: dict[str, object], service: str) -> dict[str, object]:
    components = page["components"]
    assert isinstance(components, list)
    return next(c for c in components if c["id"] == service)


def test_a_public_update_shows_until_the_resolve_and_then_in_the_history(served: Served) -> None:
    ctx = served.firebell.ctx
    public = _declare(served, title=SECRET_TITLE, service="checkout")
    # An internal-only update of another incident, and a security incident with none at all.
    internal = _declare(served, title="Ledger drift", service="ledger", severity="major")
    post_status(ctx, incident_id=internal, stage="Investigating", text="ledger internals",
                author="bob")
    _declare(served, title="Credential stuffing", service="auth", security=True)
    served.clock.advance(timedelta(minutes=5))
    post_status(ctx, incident_id=public, stage="Investigating", text=PUBLIC_TEXT, author="alice",
                audience=("internal", "public"))
    served.settle()

    page = served.json()
    assert page["title"] == "Acme status" and page["status"] == "outage"
    assert _component(page, "checkout") == {"id": "checkout", "name": "Checkout API",
                                            "status": "outage", "impact": "major_outage"}
    assert _component(page, "ledger")["status"] == "operational"
    assert _component(page, "auth")["status"] == "operational"
    [shown] = page["incidents"]  # type: ignore[misc]
    assert shown["id"] == f"INC-{public}" and shown["title"] == "Checkout API: major outage"
    assert [(u["stage"], u["text"]) for u in shown["updates"]] == [("Investigating", PUBLIC_TEXT)]
    assert shown["updates"][0]["at"] == "2026-11-24T09:05:00+00:00"
    raw = httpx.get(f"{served.url}/status.json").text
    for secret in (SECRET_TITLE, "ledger internals", "Ledger drift", "Credential", "Alice",
                   "alice", "Bob", "C0PAYMENTS"):
        assert secret not in raw
    assert httpx.get(f"{served.url}/status", headers={"Accept": "application/json"}).json() == page

    html = httpx.get(f"{served.url}/status")
    assert html.headers["content-type"].startswith("text/html")
    assert "Some card payments fail; we are investigating. &lt;b&gt;not bold&lt;/b&gt;" in html.text
    assert "<b>not bold</b>" not in html.text and SECRET_TITLE not in html.text
    assert "Some systems have an outage" in html.text

    [hosted] = served.hosted.incidents.values()  # the hosted page got the same incident
    assert hosted["name"] == f"Checkout API: major outage (INC-{public})"
    assert hosted["status"] == "investigating"
    assert hosted["incident_updates"][0]["body"] == PUBLIC_TEXT
    assert served.hosted.components["cmp-checkout"]["status"] == "major_outage"

    served.clock.advance(timedelta(minutes=40))
    resolve(ctx, incident_id=public, actor="alice")
    served.settle()
    page = served.json()
    assert page["status"] == "operational" and page["incidents"] == []
    assert _component(page, "checkout")["status"] == "operational"
    [past] = page["history"]  # type: ignore[misc]
    assert past["id"] == f"INC-{public}" and past["status"] == "resolved"
    assert past["resolved_at"] == "2026-11-24T09:45:00+00:00"
    assert "All systems operational" in httpx.get(f"{served.url}/status").text
    assert hosted["status"] == "resolved"
    assert served.hosted.components["cmp-checkout"]["status"] == "operational"
    assert len(served.hosted.incidents) == 1

    served.clock.advance(timedelta(days=15))  # past the history's 14 days
    assert served.json()["history"] == []


def test_the_page_is_public_and_empty_without_public_updates(served: Served) -> None:
    internal = _declare(served, title=SECRET_TITLE, service="checkout")
    post_status(served.firebell.ctx, incident_id=internal, stage="Identified", text="internal",
                author="alice")
    served.settle()
    page = served.json()  # no token asked for
    assert page["status"] == "operational" and page["incidents"] == [] and page["history"] == []
    assert SECRET_TITLE not in httpx.get(f"{served.url}/status").text
    assert served.hosted.requests == []


# headless Chromium ---------------------------------------------------------------------------


def _run_chromium(binary: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # A fresh profile each time: the page may be cached for a while, as proxies may.
    profile = tempfile.mkdtemp(prefix="chromium-", dir=tmp_path)
    return subprocess.run(
        [binary, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--no-first-run", f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=120, check=True)


def _png_rows(path: Path) -> tuple[int, int, bytes]:
    """(width, height, the decompressed IDAT stream) of a PNG, read with the stdlib."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    offset, idat, width, height = 8, b"", 0, 0
    while offset < len(data):
        (length,), kind = struct.unpack(">I", data[offset:offset + 4]), data[offset + 4:offset + 8]
        chunk = data[offset + 8:offset + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", chunk[:8])
        elif kind == b"IDAT":
            idat += chunk
        offset += 12 + length
    return width, height, zlib.decompress(idat)


def test_headless_chromium_renders_the_public_update(served: Served, tmp_path: Path) -> None:
    binary = chromium()
    public = _declare(served, title=SECRET_TITLE, service="checkout")
    post_status(served.firebell.ctx, incident_id=public, stage="Identified", text=PUBLIC_TEXT,
                author="alice", audience=("internal", "public"))
    served.settle()
    url = f"{served.url}/status"

    dom = _run_chromium(binary, tmp_path, "--dump-dom", url).stdout
    assert "Checkout API: major outage" in dom
    assert "Some card payments fail; we are investigating." in dom
    assert SECRET_TITLE not in dom

    shot = tmp_path / "status.png"
    _run_chromium(binary, tmp_path, f"--screenshot={shot}", "--window-size=800,1200", url)
    width, height, pixels = _png_rows(shot)
    assert (width, height) == (800, 1200)
    # A blank page filters down to a handful of byte values; text and coloured banners do not.
    assert len(set(pixels)) > 32, "the screenshot is blank"

    resolve(served.firebell.ctx, incident_id=public, actor="alice")
    served.settle()
    after = tmp_path / "resolved.png"
    _run_chromium(binary, tmp_path, f"--screenshot={after}", "--window-size=800,1200", url)
    assert _png_rows(after)[2] != pixels  # the page changed: green, the incident in history
