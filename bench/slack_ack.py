"""How fast `firebell serve` acknowledges Slack slash commands (Slack gives up after 3 s).

Starts the real server (`python app.py serve`, SQLite, demo catalog) on loopback with Slack's
Web API pointed at the fake, sends signed `/incident help` and `/oncall` commands at a fixed
concurrency with httpx, and reports the ack latency and throughput. The fake Slack runs in a
process of its own: in the load generator's process its threads would steal the GIL from the
client's event loop and the figures would measure the bench, not the server.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from urllib.parse import urlencode

import httpx

from tests.support.paths import DEMO_CATALOG, ROOT
from tests.support.slack_fake import TEAM, FakeSlack
from tests.support.slack_helpers import BOT_TOKEN, SIGNING_SECRET, free_port, signature_headers

REQUESTS = 1000
CONCURRENCY = 20
ONCALL_EVERY = 10  # one `/oncall payments` per ten requests, the rest `/incident help`


def _body(fake_base: str, n: int) -> str:
    command, text = ("/oncall", "payments") if n % ONCALL_EVERY == 0 else ("/incident", "help")
    response_url = f"{fake_base}/response/bench{n}"
    return urlencode({
        "team_id": TEAM, "channel_id": "C0BENCH", "user_id": "U0ALICE", "command": command,
        "text": text, "response_url": response_url, "trigger_id": f"bench.{n}",
    })


async def _run(
    url: str, fake_base: str, *, requests: int, concurrency: int, first: int = 0
) -> list[float]:
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(first, first + requests):
        queue.put_nowait(n)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(timeout=10, limits=limits) as client:
        async def worker() -> None:
            while not queue.empty():
                body = _body(fake_base, queue.get_nowait())
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


def _fake_slack(conn: Connection) -> None:
    """Serve the fake Slack until told to stop; answer how many responses it received."""
    with FakeSlack() as fake:
        conn.send(fake.base)
        while (message := conn.recv()) != "stop":
            assert message == "count"
            with fake._lock:
                conn.send(sum(len(v) for v in fake.responses.values()))


def main(*, requests: int = REQUESTS, concurrency: int = CONCURRENCY) -> int:
    parent, child = multiprocessing.get_context("fork").Pipe()
    fake_process = multiprocessing.get_context("fork").Process(target=_fake_slack, args=(child,))
    fake_process.start()
    fake_base = parent.recv()

    def answered_count() -> int:
        parent.send("count")
        return int(parent.recv())

    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        env = {**os.environ, "FIREBELL_CONFIG": str(DEMO_CATALOG),
               "DATABASE_URL": f"sqlite:///{Path(tmp) / 'bench.db'}",
               "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
               "SLACK_API_URL": f"{fake_base}/api/", "HOST": "127.0.0.1", "PORT": str(port)}
        env.pop("SLACK_APP_TOKEN", None)
        server = subprocess.Popen([sys.executable, "app.py", "serve"], cwd=ROOT, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_for(lambda: _healthy(base), timeout=20)
            # Warm up (Bolt's first request calls auth.test), then measure. The warm-up's
            # commands differ from the measured ones: the same body signed in the same second is
            # a replay, answered once (bot/slack/replays.py).
            asyncio.run(_run(f"{base}/slack/events", fake_base, requests=20, concurrency=5,
                             first=requests))
            _wait_for(lambda: answered_count() >= 20, timeout=20)
            started = time.perf_counter()
            latencies = asyncio.run(_run(f"{base}/slack/events", fake_base, requests=requests,
                                         concurrency=concurrency))
            elapsed = time.perf_counter() - started
            _wait_for(lambda: answered_count() >= 20 + requests, timeout=60)
            answered = time.perf_counter() - started
        finally:
            server.terminate()
            server.communicate(timeout=10)
            parent.send("stop")
            fake_process.join(timeout=10)
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


def _wait_for(predicate: Callable[[], bool], *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the server or the fake Slack did not get there in time")
        time.sleep(0.05)


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


if __name__ == "__main__":
    raise SystemExit(main())
