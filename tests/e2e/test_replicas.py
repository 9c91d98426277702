"""`firebell serve` with two server processes on PostgreSQL: an alert storm spread over both
still opens exactly one incident, pages once and tickets nothing twice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.support.paths import ROOT
from tests.support.slack_helpers import free_port

TOKEN = "replica-test-token"


def _alert(n: int) -> bytes:
    labels = {"alertname": "CheckoutErrors", "service": "checkout", "severity": "critical",
              "urgency": "high"}
    return json.dumps({
        "version": "4", "status": "firing", "receiver": "firebell", "groupLabels": labels,
        "commonLabels": labels, "commonAnnotations": {}, "externalURL": "http://am:9093",
        "groupKey": "k", "truncatedAlerts": 0,
        "alerts": [{"status": "firing", "labels": labels, "annotations": {"summary": f"5xx {n}"},
                    "startsAt": "2026-11-24T09:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "http://prom", "fingerprint": "c0ffee"}],
    }).encode()


@pytest.mark.slow
def test_two_server_processes_open_one_incident(database_url: str, tmp_path: Path) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("replicas are a PostgreSQL set-up")
    port = free_port()
    env = {**os.environ, "FIREBELL_CONFIG": str(ROOT / "examples" / "demo.yaml"),
           "DATABASE_URL": database_url, "PORT": str(port), "FIREBELL_WORKERS": "2",
           "FIREBELL_WEBHOOK_TOKEN": TOKEN, "FIREBELL_POLL_SECONDS": "1"}
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "TWILIO_ACCOUNT_SID"):
        env.pop(name, None)
    server = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "serve"], cwd=tmp_path,
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)

        def post(n: int) -> int:
            # A fresh connection each time, so that the kernel spreads them over both processes.
            return httpx.post(f"{url}/webhooks/alertmanager", content=_alert(n), timeout=30,
                              headers={"Authorization": f"Bearer {TOKEN}",
                                       "Content-Type": "application/json"}).status_code

        with ThreadPoolExecutor(max_workers=20) as pool:
            statuses = list(pool.map(post, range(200)))
        assert statuses == [200] * 200
    finally:
        server.terminate()
        server.wait(timeout=20)
    engine = create_engine(database_url)
    with engine.connect() as connection:
        count = {q: connection.execute(text(f"SELECT count(*) FROM {q}")).scalar_one()
                 for q in ("incidents", "signals", "alerts")}
        paged = connection.execute(
            text("SELECT count(DISTINCT person) FROM pages WHERE step = 0")).scalar_one()
    engine.dispose()
    assert count == {"incidents": 1, "signals": 200, "alerts": 1}
    assert paged == 1
