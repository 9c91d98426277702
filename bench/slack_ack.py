"""How fast `firebell serve` acknowledges Slack slash commands, beside the floor of its stack.

Starts the real server (`python app.py serve`, SQLite, demo catalog) on loopback with Slack's
Web API pointed at the fake, and the floor (`floor`: a bare Bolt app on the same Starlette +
uvicorn stack whose listeners only ack). Both get the same signed `/incident help` and
`/oncall payments` commands at a fixed concurrency with httpx, in interleaved rounds, so that
whatever else the machine does falls on both; the bench prints each one's ack latency and the
ratio of their p99s (issue 16's goal: Firebell within 1.5x of the floor). The fake Slack runs
in a process of its own: in the load generator's process its threads would steal the GIL from
the client's event loop and the figures would measure the bench, not the server."""

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
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import IO
from urllib.parse import urlencode

import httpx

from tests.support.paths import DEMO_CATALOG, ROOT
from tests.support.slack_fake import TEAM, FakeSlack
from tests.support.slack_helpers import BOT_TOKEN, SIGNING_SECRET, free_port, signature_headers

REQUESTS = 1000
CONCURRENCY = 20
ROUNDS = 5
GOAL_RATIO = 1.5
FIREBELL, FLOOR = "Firebell", "floor"
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


def main(*, requests: int = REQUESTS, concurrency: int = CONCURRENCY,
         rounds: int = ROUNDS) -> int:
    parent, child = multiprocessing.get_context("fork").Pipe()
    fake_process = multiprocessing.get_context("fork").Process(target=_fake_slack, args=(child,))
    fake_process.start()
    fake_base = parent.recv()

    def answered_count() -> int:
        parent.send("count")
        return int(parent.recv())

    load = _load()  # the machine's load before either server starts
    latencies: dict[str, list[float]] = {FIREBELL: [], FLOOR: []}
    busy: dict[str, float] = {FIREBELL: 0.0, FLOOR: 0.0}
    with tempfile.TemporaryDirectory() as tmp:
        servers = {FIREBELL: _start_firebell(Path(tmp), fake_base),
                   FLOOR: _start_floor(Path(tmp), fake_base)}
        try:
            for server in servers.values():
                _wait_for(lambda server=server: _healthy(server.base), timeout=20)
            # Warm up (Bolt's first request calls auth.test), then measure. The warm-up's
            # commands differ from the measured ones: the same body signed in the same second is
            # a replay, answered once (bot/slack/replays.py).
            for server in servers.values():
                asyncio.run(_run(server.url, fake_base, requests=20, concurrency=5,
                                 first=requests))
            _wait_for(lambda: answered_count() >= 20, timeout=20)
            started = time.perf_counter()
            per_round = requests // rounds
            for n in range(rounds):
                # Interleaved, each app first in every other round: a neighbour's burst of load
                # on the machine falls on both.
                order = (FIREBELL, FLOOR) if n % 2 == 0 else (FLOOR, FIREBELL)
                for name in order:
                    round_started = time.perf_counter()
                    latencies[name] += asyncio.run(_run(
                        servers[name].url, fake_base, requests=per_round,
                        concurrency=concurrency, first=n * per_round))
                    busy[name] += time.perf_counter() - round_started
            _wait_for(lambda: answered_count() >= 20 + per_round * rounds, timeout=60)
            answered = time.perf_counter() - started
        finally:
            for server in servers.values():
                server.stop()
            parent.send("stop")
            fake_process.join(timeout=10)
    measured = per_round * rounds
    print(f"slack_ack: {measured} signed slash commands per app ({measured // ONCALL_EVERY} "
          f"/oncall payments, the rest /incident help), concurrency {concurrency}, "
          f"{rounds} interleaved rounds; load average before: {load}")
    for name in (FIREBELL, FLOOR):
        values = latencies[name]
        print(f"  {name:<8} ack ms: p50 {statistics.median(values):5.1f}  "
              f"p99 {_percentile(values, 0.99):5.1f}  max {max(values):6.1f}  "
              f"({len(values) / busy[name]:.0f} requests/s)")
    ratio = _percentile(latencies[FIREBELL], 0.99) / _percentile(latencies[FLOOR], 0.99)
    print(f"  Firebell p99 / floor p99: {ratio:.2f}x (goal <= {GOAL_RATIO}x); every Firebell "
          f"answer posted to its response_url {answered:.2f}s after the first round began")
    if max(latencies[FIREBELL]) >= 3000:
        print("  SLOWER THAN SLACK'S 3 s LIMIT", file=sys.stderr)
        return 1
    return 0


@dataclass
class _Server:
    process: subprocess.Popen[bytes]
    base: str
    log: IO[bytes]

    @property
    def url(self) -> str:
        return f"{self.base}/slack/events"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        self.log.close()


def _start_firebell(tmp: Path, fake_base: str) -> _Server:
    """The real `firebell serve` (SQLite, demo catalog), logging as it does in production."""
    port = free_port()
    env = {**os.environ, "FIREBELL_CONFIG": str(DEMO_CATALOG),
           "DATABASE_URL": f"sqlite:///{tmp / 'bench.db'}",
           "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
           "SLACK_API_URL": f"{fake_base}/api/", "HOST": "127.0.0.1", "PORT": str(port)}
    env.pop("SLACK_APP_TOKEN", None)
    # Its log goes to a file: a pipe nobody reads fills up, and the server stops at a write.
    log = (tmp / "firebell.log").open("wb")
    process = subprocess.Popen([sys.executable, "app.py", "serve"], cwd=ROOT, env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    return _Server(process, f"http://127.0.0.1:{port}", log)


def _start_floor(tmp: Path, fake_base: str) -> _Server:
    port = free_port()
    log = (tmp / "floor.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-c", f"from bench.slack_ack import floor; floor({port}, {fake_base!r})"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    return _Server(process, f"http://127.0.0.1:{port}", log)


def floor(port: int, fake_base: str) -> None:
    """The floor: a bare Bolt app on the same Starlette + uvicorn stack whose `/incident` and
    `/oncall` listeners only ack. It verifies the signature and runs Bolt's middleware as
    Firebell's does; it keeps no replay log, runs no command and answers nobody afterwards.
    Uvicorn's defaults, access log included (Firebell logs each request too)."""
    import uvicorn
    from slack_bolt import Ack, App
    from slack_bolt.adapter.starlette import SlackRequestHandler
    from slack_sdk import WebClient
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Route

    bolt = App(client=WebClient(token=BOT_TOKEN, base_url=f"{fake_base}/api/"),
               signing_secret=SIGNING_SECRET, token_verification_enabled=False,
               process_before_response=True)

    def only_ack(ack: Ack) -> None:
        ack()

    bolt.command("/incident")(only_ack)
    bolt.command("/oncall")(only_ack)
    handler = SlackRequestHandler(bolt)

    async def events(request: Request) -> Response:
        return await handler.handle(request)

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/slack/events", events, methods=["POST"]),
                            Route("/healthz", healthz)])
    uvicorn.run(app, host="127.0.0.1", port=port)


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


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
