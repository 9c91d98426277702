"""How fast `firebell serve` acknowledges Slack slash commands (Slack gives up after 3 s).

Starts the real server (`python app.py serve`, SQLite, demo catalog) on loopback with Slack's
Web API pointed at the in-process fake, sends signed `/incident help` and `/oncall` commands at
a fixed concurrency with httpx, and reports the ack latency and throughput.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import httpx

from tests.slack_fake import TEAM, FakeSlack
from tests.slack_helpers import (
    BOT_TOKEN,
    DEMO_CATALOG,
    ROOT,
    SIGNING_SECRET,
    free_port,
    signature_headers,
)

REQUESTS = 1000
CONCURRENCY = 20
ONCALL_EVERY = 10  # one `/oncall payments` per ten requests, the rest `/incident help`


def _body(fake: FakeSlack, n: int) -> str:
    command, text = ("/oncall", "payments") if n % ONCALL_EVERY == 0 else ("/incident", "help")
    _, response_url = fake.response_url()
    return urlencode({
        "team_id": TEAM, "channel_id": "C0BENCH", "user_id": "U0ALICE", "command": command,
        "text": text, "response_url": response_url, "trigger_id": f"bench.{n}",
    })


async def _run(url: str, fake: FakeSlack, *, requests: int, concurrency: int) -> list[float]:
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(requests):
        queue.put_nowait(n)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(timeout=10, limits=limits) as client:
        async def worker() -> None:
            while not queue.empty():
                body = _body(fake, queue.get_nowait())
                headers = {"Content-Type": "application/x-www-form-urlencoded",
                           **signature_headers(body)}
                started = time.perf_counter()
                response = await client.post(url, content=body.encode(), headers=headers)
                latencies.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    raise RuntimeError(f"HTTP {response.status_code}: {response.text}")

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main(*, requests: int = REQUESTS, concurrency: int = CONCURRENCY) -> int:
    with FakeSlack() as fake, tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        env = {**os.environ, "FIREBELL_CONFIG": str(DEMO_CATALOG),
               "DATABASE_URL": f"sqlite:///{Path(tmp) / 'bench.db'}",
               "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
               "SLACK_API_URL": fake.api_url, "HOST": "127.0.0.1", "PORT": str(port)}
        env.pop("SLACK_APP_TOKEN", None)
        server = subprocess.Popen([sys.executable, "app.py", "serve"], cwd=ROOT, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            base = f"http://127.0.0.1:{port}"
            fake.wait_for(lambda: _healthy(base), timeout=20)
            # Warm up (Bolt's first request calls auth.test), then measure.
            asyncio.run(_run(f"{base}/slack/events", fake, requests=20, concurrency=5))
            answered_before = sum(len(v) for v in fake.responses.values())
            started = time.perf_counter()
            latencies = asyncio.run(_run(f"{base}/slack/events", fake, requests=requests,
                                         concurrency=concurrency))
            elapsed = time.perf_counter() - started
            fake.wait_for(lambda: sum(len(v) for v in fake.responses.values())
                          >= answered_before + requests, timeout=60)
            answered = time.perf_counter() - started
        finally:
            server.terminate()
            _, errors = server.communicate(timeout=10)
    print(f"slack_ack: {requests} signed slash commands ({requests // ONCALL_EVERY} /oncall, "
          f"the rest /incident help), concurrency {concurrency}")
    print(f"  ack latency ms: p50 {statistics.median(latencies):.1f}  "
          f"p99 {_percentile(latencies, 0.99):.1f}  max {max(latencies):.1f}")
    print(f"  throughput: {requests / elapsed:.0f} requests/s; "
          f"every answer posted to its response_url after {answered:.2f}s")
    if max(latencies) >= 3000:
        print("  SLOWER THAN SLACK'S 3 s LIMIT", file=sys.stderr)
        return 1
    return 0


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


if __name__ == "__main__":
    raise SystemExit(main())
