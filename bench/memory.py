"""Memory of `firebell serve`: its RSS after an alert load, and its slope across a soak.

Starts the real server (`python app.py serve`, SQLite unless --database-url says otherwise) with
Slack's Web API and Twilio's REST API pointed at the fakes, each in a process of its own. Then:

1. Load: 100,000 Alertmanager webhooks over 10,000 fingerprints (each fires 9 times and then
   resolves, spread over 100 services, a 1 s grouping window): about 10,000 incidents open,
   page (Slack and SMS) and resolve. RSS (/proc/<pid>/status VmRSS, the server and any children)
   after it: goal < 300 MB.
2. Soak: mixed traffic at a steady pace: an alert that opens an incident, `/incident ack
   INC-n` for it, its resolve, `/incident help`, `/oncall payments` and `/incident list`;
   first --warmup minutes (default 5: thread, connection and allocator pools fill), then
   --minutes measured (default 10). RSS every 10 s and the least-squares slope in MB/min of the
   measured part: goal, no growth.

--allocator jemalloc runs the server with jemalloc preloaded (Debian's libjemalloc2, as the
Dockerfile and the systemd unit do); glibc (the default here) is Python's usual allocator.

    python -m bench.memory [--alerts 100000] [--fingerprints 10000] [--warmup 5] [--minutes 10]
        [--allocator glibc|jemalloc]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from urllib.parse import urlencode

from bench._twilio_process import TwilioProcess
from tests.support.paths import ROOT
from tests.support.slack_fake import TEAM, FakeSlack
from tests.support.slack_helpers import BOT_TOKEN, SIGNING_SECRET, free_port, signature_headers
from tests.support.twilio_fake import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER

TOKEN = "bench-memory-token-0123456789"
SERVICES = 100
RSS_GOAL_MB = 300
SAMPLE_SECONDS = 10


def _catalog() -> str:
    services = "\n".join(
        f"  - {{id: svc{i}, name: Service {i}, team: payments, match: {{service: svc{i}}}}}"
        for i in range(SERVICES))
    return f"""
timezone: UTC
people:
  - {{id: alice, name: Alice, slack: U0ALICE, phone: "+15550100001"}}
  - {{id: bob, name: Bob, slack: U0BOB, phone: "+15550100002"}}
teams: [{{id: payments, name: Payments, slack_channel: CPAY, escalation_policy: pay}}]
services:
{services}
schedules:
  - {{id: primary, team: payments,
     rotation: {{every: 1w, handoff: "Mon 09:00", start: "2026-01-05", members: [alice, bob]}}}}
escalation_policies: [{{id: pay, steps: [{{notify: ["schedule:primary"], ack_timeout: 1h}}]}}]
priorities:
  response:
    P1: {{page: true, ack_within: 5m, channels: [chat, sms], update_every: 1h}}
    P2: {{page: true, ack_within: 15m, channels: [chat]}}
    P3: {{page: false, ack_within: 8h, channels: [chat]}}
    P4: {{page: false, ack_within: 5d, channels: [ticket]}}
intake:
  grouping_window: 1s
  rate_limit: {{per_second: 100000, burst: 100000}}
"""


def _alert(fingerprint: int, status: str) -> bytes:
    labels = {"alertname": "Errors", "service": f"svc{fingerprint % SERVICES}",
              "severity": "critical", "instance": f"host{fingerprint}"}
    return json.dumps({
        "version": "4", "groupKey": f"bench:{fingerprint}", "status": status,
        "receiver": "firebell", "groupLabels": labels, "commonLabels": labels,
        "commonAnnotations": {}, "externalURL": "http://alertmanager:9093", "truncatedAlerts": 0,
        "alerts": [{"status": status, "labels": labels,
                    "annotations": {"summary": f"Errors on host{fingerprint}"},
                    "startsAt": "2026-11-24T09:00:00Z",
                    "endsAt": "2026-11-24T09:05:00Z" if status == "resolved"
                    else "0001-01-01T00:00:00Z",
                    "generatorURL": "http://prometheus:9090/graph",
                    "fingerprint": f"fp{fingerprint:08x}"}],
    }).encode()


# the server and its fakes -----------------------------------------------------------------------
def _fake_slack(conn: Connection) -> None:
    with FakeSlack() as fake:
        conn.send(fake.base)
        conn.recv()  # "stop"


def _rss_mb(pid: int) -> float:
    """VmRSS of the process and of its children (FIREBELL_WORKERS forks), in MB."""
    total, pids, seen = 0, [pid], set()
    while pids:
        p = pids.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += next(int(line.split()[1]) for line in status.splitlines()
                          if line.startswith("VmRSS:"))
            for task in Path(f"/proc/{p}/task").iterdir():
                pids += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError, StopIteration):
            continue
    return total / 1024


def _slope(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB) in MB per minute."""
    n = len(samples)
    mean_t = sum(t for t, _ in samples) / n
    mean_m = sum(m for _, m in samples) / n
    var = sum((t - mean_t) ** 2 for t, _ in samples)
    cov = sum((t - mean_t) * (m - mean_m) for t, m in samples)
    return cov / var * 60 if var else 0.0


# the traffic ----------------------------------------------------------------------------------
class _Client:
    def __init__(self, base: str, slack_base: str, session: object) -> None:
        self.base, self.slack_base, self.session = base, slack_base, session
        self.statuses: dict[int, int] = {}
        self.commands = itertools.count()

    async def alert(self, fingerprint: int, status: str) -> list[int]:
        async with self.session.post(  # type: ignore[attr-defined]
            f"{self.base}/webhooks/alertmanager", data=_alert(fingerprint, status),
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        ) as response:
            body = await response.read()
            self.statuses[response.status] = self.statuses.get(response.status, 0) + 1
        return list(json.loads(body).get("incidents", [])) if response.status == 200 else []

    async def command(self, command: str, text: str) -> None:
        n = next(self.commands)
        body = urlencode({
            "team_id": TEAM, "channel_id": "C0BENCH", "user_id": "U0ALICE", "command": command,
            "text": text, "response_url": f"{self.slack_base}/response/mem{n}",
            "trigger_id": f"mem.{n}",
        })
        headers = {"Content-Type": "application/x-www-form-urlencoded", **signature_headers(body)}
        async with self.session.post(  # type: ignore[attr-defined]
            f"{self.base}/slack/events", data=body.encode(), headers=headers,
        ) as response:
            await response.read()
            self.statuses[response.status] = self.statuses.get(response.status, 0) + 1


async def _load(base: str, slack_base: str, *, fingerprints: int, per_fingerprint: int,
                concurrency: int) -> dict[int, int]:
    import aiohttp

    queue = iter(range(fingerprints))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as s:
        client = _Client(base, slack_base, s)

        async def worker() -> None:
            for fingerprint in queue:
                for _ in range(per_fingerprint - 1):
                    await client.alert(fingerprint, "firing")
                await client.alert(fingerprint, "resolved")

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return client.statuses


async def _soak(base: str, slack_base: str, pid: int, *, seconds: float, first: int,
                concurrency: int = 4) -> tuple[list[tuple[float, float]], dict[int, int]]:
    import aiohttp

    samples: list[tuple[float, float]] = []
    fingerprints = itertools.count(first)
    start = time.monotonic()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as s:
        client = _Client(base, slack_base, s)

        async def worker() -> None:
            while time.monotonic() - start < seconds:
                fingerprint = next(fingerprints)
                for incident in await client.alert(fingerprint, "firing"):
                    await client.command("/incident", f"ack INC-{incident}")
                await client.alert(fingerprint, "firing")
                await client.command("/incident", "help")
                await client.command("/oncall", "payments")
                await client.command("/incident", "list")
                await client.alert(fingerprint, "resolved")
                await asyncio.sleep(0.2)  # a steady pace, not a storm

        async def sampler() -> None:
            while (elapsed := time.monotonic() - start) < seconds:
                samples.append((elapsed, _rss_mb(pid)))
                await asyncio.sleep(SAMPLE_SECONDS)
            samples.append((time.monotonic() - start, _rss_mb(pid)))

        await asyncio.gather(sampler(), *(worker() for _ in range(concurrency)))
    return samples, client.statuses


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.memory")
    parser.add_argument("--alerts", type=int, default=100_000)
    parser.add_argument("--fingerprints", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--minutes", type=float, default=10.0, help="the measured soak's length")
    parser.add_argument("--warmup", type=float, default=5.0,
                        help="minutes of the same traffic before the measured soak")
    parser.add_argument("--allocator", choices=["glibc", "jemalloc"], default="glibc")
    parser.add_argument("--database-url", help="default: a SQLite file in a temporary directory")
    args = parser.parse_args(argv if argv is not None else [])
    per_fingerprint = max(2, args.alerts // args.fingerprints)

    context = multiprocessing.get_context("fork")
    parent, child = context.Pipe()
    slack_process = context.Process(target=_fake_slack, args=(child,), daemon=True)
    slack_process.start()
    slack_base = str(parent.recv())
    twilio = TwilioProcess(hang_seconds=0)
    with tempfile.TemporaryDirectory() as tmp:
        catalog = Path(tmp) / "catalog.yaml"
        catalog.write_text(_catalog())
        port = free_port()
        env = {**os.environ, "FIREBELL_CONFIG": str(catalog),
               "DATABASE_URL": args.database_url or f"sqlite:///{tmp}/memory.db",
               "FIREBELL_WEBHOOK_TOKEN": TOKEN,
               "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
               "SLACK_API_URL": f"{slack_base}/api/", "HOST": "127.0.0.1", "PORT": str(port),
               "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
               "TWILIO_FROM_NUMBER": FROM_NUMBER, "TWILIO_API_URL": twilio.api_url}
        env.pop("SLACK_APP_TOKEN", None)
        env.pop("LD_PRELOAD", None)
        if args.allocator == "jemalloc":
            env["LD_PRELOAD"] = _jemalloc()
        base = f"http://127.0.0.1:{port}"
        with (Path(tmp) / "serve.log").open("wb") as log:
            server = subprocess.Popen([sys.executable, "app.py", "serve"], cwd=ROOT, env=env,
                                      stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_healthy(base, server, Path(tmp) / "serve.log")
            started_mb = _rss_mb(server.pid)
            began = time.perf_counter()
            statuses = asyncio.run(_load(
                base, slack_base, fingerprints=args.fingerprints,
                per_fingerprint=per_fingerprint, concurrency=args.concurrency))
            took = time.perf_counter() - began
            time.sleep(5)  # the dispatcher's last pages and posts
            loaded_mb = _rss_mb(server.pid)
            sent = args.fingerprints * per_fingerprint
            print(f"memory: load {sent:,} alerts over {args.fingerprints:,} fingerprints "
                  f"({SERVICES} services) at concurrency {args.concurrency} in {took:.0f}s "
                  f"({sent / took:,.0f}/s); answers {statuses}; load average "
                  f"{_loadavg()}", flush=True)
            print(f"  RSS at start {started_mb:.0f} MB; after the load {loaded_mb:.0f} MB "
                  f"(goal < {RSS_GOAL_MB} MB: {'met' if loaded_mb < RSS_GOAL_MB else 'MISSED'})",
                  flush=True)
            warm, warm_statuses = asyncio.run(_soak(
                base, slack_base, server.pid, seconds=args.warmup * 60,
                first=args.fingerprints))
            if warm:
                print(f"  warm-up {args.warmup:g} min of the soak's traffic: RSS "
                      f"{warm[0][1]:.0f} -> {warm[-1][1]:.0f} MB, slope {_slope(warm):+.2f} "
                      f"MB/min; answers {warm_statuses}", flush=True)
            samples, soak_statuses = asyncio.run(_soak(
                base, slack_base, server.pid, seconds=args.minutes * 60,
                first=args.fingerprints + 10_000_000))
            slope = _slope(samples)
            print(f"  soak {args.minutes:g} min of mixed traffic (alert, /incident ack, resolve, "
                  f"/incident help, /oncall, /incident list), allocator {args.allocator}: "
                  f"answers {soak_statuses}; RSS {samples[0][1]:.0f} -> {samples[-1][1]:.0f} MB "
                  f"(max {max(m for _, m in samples):.0f}); slope {slope:+.2f} MB/min over "
                  f"{len(samples)} samples (goal: no growth); load average {_loadavg()}",
                  flush=True)
            # The first minutes warm up (thread pools, connection pools and caches fill): the
            # slope of each half says whether growth goes on or levels off.
            half = len(samples) // 2
            if half >= 3:
                print(f"  slope of the first half {_slope(samples[:half]):+.2f} MB/min, of the "
                      f"second half {_slope(samples[half:]):+.2f} MB/min "
                      f"({samples[half][0] / 60:.0f}-{samples[-1][0] / 60:.0f} min)", flush=True)
            print("  samples (s, MB): " + ", ".join(f"{t:.0f}:{m:.0f}" for t, m in samples))
            if server.poll() is not None:
                print("  the server exited:\n" + (Path(tmp) / "serve.log").read_text()[-3000:])
                return 1
        finally:
            server.terminate()
            server.wait(20)
            parent.send("stop")
            slack_process.join(10)
            twilio.stop()
    ok = (loaded_mb < RSS_GOAL_MB and set(statuses) == {200} and set(soak_statuses) == {200}
          and set(warm_statuses) <= {200})
    return 0 if ok else 1


def _jemalloc() -> str:
    """Where Debian's libjemalloc2 put the library (its directory depends on the machine)."""
    found = sorted(Path("/usr/lib").glob("*/libjemalloc.so.2")) + sorted(
        Path("/usr/lib").glob("libjemalloc.so.2"))
    if not found:
        raise SystemExit("--allocator jemalloc: libjemalloc.so.2 not found (apt install "
                         "libjemalloc2)")
    return str(found[0])


def _wait_healthy(base: str, server: subprocess.Popen[bytes], log: Path) -> None:
    import httpx

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("firebell serve exited:\n" + log.read_text()[-3000:])
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError("firebell serve did not become healthy:\n" + log.read_text()[-3000:])


def _loadavg() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
