"""How fast `firebell serve` acknowledges Teams activities, next to Slack slash commands, in one
run: `python -m bench.teams_ack` (or `python -m bench teams_ack`).

Each front-end gets the real server (`python app.py serve`, SQLite, the demo catalog) on
loopback with its vendor faked in a process of its own (in the load generator's process the
fake's threads would steal the GIL from the client's event loop): for Teams the Entra token
endpoint, the OpenID metadata and JWKS, and the Bot Connector (tests/teams/fakes.py); for Slack
its Web API and response URLs (tests/support/slack_fake.py, as bench/slack_ack.py runs it).
The same question is asked at the same concurrency: `oncall payments` as a message activity in
a 1:1 chat with a Bot Framework JWT (RS256, checked against the JWKS on every request), and
`/oncall payments` as a signed slash command. The ack is the HTTP answer (both answer at once
and reply after); every reply is also waited for. Teams gives a bot 15 s, Slack 3 s.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from bench.slack_ack import _fake_slack, _healthy, _percentile, _wait_for
from tests.support.paths import ROOT
from tests.support.slack_fake import TEAM
from tests.support.slack_helpers import BOT_TOKEN, SIGNING_SECRET, free_port, signature_headers
from tests.teams.fakes import (
    APP_ID,
    APP_PASSWORD,
    TENANT,
    FakeMicrosoft,
    bot_token,
    message,
    teams_catalog,
)

REQUESTS = 1000
CONCURRENCY = 20
WARM_UP = 20
LIMITS_MS = {"teams": 15000, "slack": 3000}  # when each platform gives up on an answer

Request = tuple[str, bytes, dict[str, str]]  # path, body, headers


@dataclass
class Result:
    front_end: str
    what: str
    latencies: list[float]
    elapsed: float  # seconds to send them all
    answered: float  # seconds until every reply had reached the fake

    def row(self) -> str:
        p50, p99 = statistics.median(self.latencies), _percentile(self.latencies, 0.99)
        return (f"  {self.front_end:<6} {self.what:<44} {p50:>7.1f} {p99:>7.1f} "
                f"{max(self.latencies):>7.1f} {len(self.latencies) / self.elapsed:>6.0f} "
                f"{self.answered:>8.2f}")


async def _load(base: str, make: Callable[[int], Request], *, requests: int, concurrency: int,
                first: int = 0) -> list[float]:
    """Send `requests` requests from `concurrency` connections; each one's latency in ms."""
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(first, first + requests):
        queue.put_nowait(n)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        async def worker() -> None:
            while not queue.empty():
                path, body, headers = make(queue.get_nowait())
                started = time.perf_counter()
                response = await client.post(base + path, content=body, headers=headers)
                latencies.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    raise RuntimeError(f"HTTP {response.status_code}: {response.text}")

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


# the fakes, each in a process of its own ------------------------------------------------------
def _fake_microsoft(conn: Connection) -> None:
    """Serve Entra + OpenID + JWKS + the Bot Connector until told to stop; answer how many
    activities the bot has sent. Forked: it signs with the same test key as the parent."""
    fake = FakeMicrosoft().start()
    try:
        conn.send(fake.url)
        while (asked := conn.recv()) != "stop":
            assert asked == "count"
            conn.send(len(fake.sent))
    finally:
        fake.stop()


@contextmanager
def _fake(target: Callable[[Connection], None]) -> Iterator[tuple[str, Callable[[], int]]]:
    """The fake's base URL, and how many answers it has received so far."""
    context = multiprocessing.get_context("fork")
    parent, child = context.Pipe()
    process = context.Process(target=target, args=(child,))
    process.start()
    base = parent.recv()

    def count() -> int:
        parent.send("count")
        return int(parent.recv())

    try:
        yield base, count
    finally:
        parent.send("stop")
        process.join(timeout=10)


@contextmanager
def _serve(env: dict[str, str], log: Path) -> Iterator[str]:
    """`python app.py serve` with `env` on a free port; its base URL once healthy. Its log
    goes to a file: an unread pipe fills up and then blocks the server's every log line."""
    port = free_port()
    environ = {k: v for k, v in os.environ.items()
               if not k.startswith(("SLACK_", "TEAMS_", "TWILIO_"))}
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "app.py", "serve"], cwd=ROOT,
            env={**environ, **env, "HOST": "127.0.0.1", "PORT": str(port)},
            stdout=subprocess.DEVNULL, stderr=out)
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_for(lambda: _healthy(base), timeout=30)
            yield base
        except Exception:
            print(f"firebell serve's log:\n{log.read_text()[-3000:]}", file=sys.stderr)
            raise
        finally:
            server.terminate()
            server.wait(timeout=10)


def _measure(front_end: str, what: str, base: str, make: Callable[[int], Request],
             answered: Callable[[], int], *, requests: int, concurrency: int) -> Result:
    """Warm up (first tokens, keys, connections), then measure; wait for every reply."""
    asyncio.run(_load(base, make, requests=WARM_UP, concurrency=5, first=requests))
    _replies(front_end, answered, WARM_UP, timeout=30)
    started = time.perf_counter()
    latencies = asyncio.run(_load(base, make, requests=requests, concurrency=concurrency))
    elapsed = time.perf_counter() - started
    _replies(front_end, answered, WARM_UP + requests, timeout=120)
    return Result(front_end, what, latencies, elapsed, time.perf_counter() - started)


def _replies(front_end: str, answered: Callable[[], int], expected: int, *,
             timeout: float) -> None:
    try:
        _wait_for(lambda: answered() >= expected, timeout=timeout)
    except TimeoutError:
        raise TimeoutError(f"{front_end}: {answered()} of {expected} replies after "
                           f"{timeout:.0f} s") from None


# the two front-ends -------------------------------------------------------------------------
def teams(*, requests: int = REQUESTS, concurrency: int = CONCURRENCY) -> Result:
    with tempfile.TemporaryDirectory() as tmp, _fake(_fake_microsoft) as (fake, answered):
        service_url = f"{fake}/connector/"
        # One token for all: the Bot Framework's service reuses its token until it expires.
        headers = {"Authorization": f"Bearer {bot_token(service_url)}",
                   "Content-Type": "application/json"}

        def make(n: int) -> Request:
            activity: dict[str, Any] = message(service_url, "oncall payments",
                                               conversation="a:personal-alice")
            activity["id"] = f"bench-{n}"
            return "/api/messages", json.dumps(activity).encode(), headers

        env = {"FIREBELL_CONFIG": str(teams_catalog(Path(tmp))),
               "DATABASE_URL": f"sqlite:///{Path(tmp) / 'bench.db'}",
               "TEAMS_APP_ID": APP_ID, "TEAMS_APP_PASSWORD": APP_PASSWORD,
               "TEAMS_TENANT_ID": TENANT, "TEAMS_LOGIN_URL": fake,
               "TEAMS_OPENID_URL": f"{fake}/v1/.well-known/openidconfiguration"}
        with _serve(env, Path(tmp) / "serve.log") as base:
            return _measure("teams", "`oncall payments` activity, JWT (RS256)", base, make,
                            answered, requests=requests, concurrency=concurrency)


def slack(*, requests: int = REQUESTS, concurrency: int = CONCURRENCY) -> Result:
    with tempfile.TemporaryDirectory() as tmp, _fake(_fake_slack) as (fake, answered):
        def make(n: int) -> Request:
            body = urlencode({
                "team_id": TEAM, "channel_id": "C0BENCH", "user_id": "U0ALICE",
                "command": "/oncall", "text": "payments",
                "response_url": f"{fake}/response/bench{n}", "trigger_id": f"bench.{n}"})
            return "/slack/events", body.encode(), {
                "Content-Type": "application/x-www-form-urlencoded", **signature_headers(body)}

        env = {"FIREBELL_CONFIG": str(teams_catalog(Path(tmp))),
               "DATABASE_URL": f"sqlite:///{Path(tmp) / 'bench.db'}",
               "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
               "SLACK_API_URL": f"{fake}/api/"}
        with _serve(env, Path(tmp) / "serve.log") as base:
            return _measure("slack", "`/oncall payments` slash command, signed", base, make,
                            answered, requests=requests, concurrency=concurrency)


def main(*, requests: int = REQUESTS, concurrency: int = CONCURRENCY) -> int:
    results = [teams(requests=requests, concurrency=concurrency),
               slack(requests=requests, concurrency=concurrency)]
    print(f"teams_ack: {requests} requests per front-end at concurrency {concurrency}, "
          f"`firebell serve` on SQLite (ack = the HTTP answer, in ms)")
    print(f"  {'':<6} {'request':<44} {'p50':>7} {'p99':>7} {'max':>7} {'req/s':>6} "
          f"{'replied':>8}")
    for result in results:
        print(result.row())
    print("  replied: seconds until every reply had reached the fake (Bot Connector, "
          "response_url)")
    slow = [r.front_end for r in results if max(r.latencies) >= LIMITS_MS[r.front_end]]
    if slow:
        print(f"  SLOWER THAN THE PLATFORM'S LIMIT: {', '.join(slow)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
