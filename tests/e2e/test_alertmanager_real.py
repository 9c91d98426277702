"""Debian's real `prometheus-alertmanager` sends its webhooks to Firebell's real HTTP server.

Skipped only outside CI when the binary is missing; under CI=true a missing binary fails.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette

from bot.webhooks import webhook_routes
from storage.store import SqlStore
from tests.support.world import World
from workflows.clock import SystemClock

TOKEN = "alertmanager-test-token"
BINARY = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def firebell(store: SqlStore) -> Iterator[tuple[World, int]]:
    world = World.for_intake(store, datetime.now(UTC))
    world.ctx.clock = SystemClock()
    app = Starlette(routes=webhook_routes(SimpleNamespace(  # type: ignore[arg-type]
        ctx=world.ctx, settings=SimpleNamespace(firebell_webhook_token=TOKEN))))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    _wait(lambda: server.started, 10, "Firebell's HTTP server")
    yield world, port
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def alertmanager(tmp_path: Path, firebell: tuple[World, int]) -> Iterator[str]:
    if BINARY is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have prometheus-alertmanager installed (.ci/run installs it)")
        pytest.skip("prometheus-alertmanager is not installed")
    _, firebell_port = firebell
    port = _free_port()
    config = tmp_path / "alertmanager.yml"
    config.write_text(json.dumps({  # YAML is a superset of JSON
        "route": {"receiver": "firebell", "group_by": ["alertname", "service"],
                  "group_wait": "1s", "group_interval": "1s", "repeat_interval": "1h"},
        "receivers": [{"name": "firebell", "webhook_configs": [{
            "url": f"http://127.0.0.1:{firebell_port}/webhooks/alertmanager",
            "send_resolved": True,
            "http_config": {"authorization": {"type": "Bearer", "credentials": TOKEN}},
        }]}],
    }))
    process = subprocess.Popen(
        [BINARY, f"--config.file={config}", f"--storage.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
        stdout=subprocess.DEVNULL, stderr=open(tmp_path / "alertmanager.log", "w"),  # noqa: SIM115
    )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return httpx.get(f"{url}/-/ready", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        _wait(ready, 20, "Alertmanager")
        yield url
    finally:
        process.terminate()
        process.wait(10)


def _post(url: str, *, ends: datetime | None = None) -> None:
    alert = {
        "labels": {"alertname": "CheckoutErrors", "service": "checkout", "severity": "critical",
                   "instance": "checkout-1"},
        "annotations": {"summary": "Checkout 5xx above 5%"},
        "generatorURL": "http://prometheus.example/graph?g0.expr=errors",
    }
    if ends:
        alert["endsAt"] = ends.isoformat().replace("+00:00", "Z")
    answer = httpx.post(f"{url}/api/v2/alerts", json=[alert, alert], timeout=5)
    assert answer.status_code == 200, answer.text


@pytest.mark.slow
def test_alertmanager_alerts_open_exactly_one_incident_and_one_ticket(
    alertmanager: str, firebell: tuple[World, int]
) -> None:
    world, _ = firebell
    for _ in range(3):  # the same alert, posted again and again, as Prometheus does
        _post(alertmanager)
        time.sleep(0.3)
    _wait(lambda: len(world.incidents()) == 1, 20, "the incident")
    time.sleep(2.5)  # more group_interval rounds: nothing new may come of them
    [incident] = world.incidents()
    assert incident.service == "checkout" and incident.priority == "P1"
    assert len(world.tickets.opened) == 1 and incident.ticket == "OPS-1"
    assert world.pager.people() == ["alice"]
    _post(alertmanager, ends=datetime.now(UTC) - timedelta(seconds=1))
    assert incident.id is not None
    _wait(lambda: "alert_resolved" in world.kinds(incident.id or 0), 20, "the resolve")
    assert len(world.incidents()) == 1
