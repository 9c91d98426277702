"""Scale-out on PostgreSQL: throughput of N replicas of `firebell serve` (N = 1, 2, 4) in two
deployments, and the exactly-once promises checked after every run.

Deployments:
  workers  one `firebell serve` with FIREBELL_WORKERS=N: N processes sharing the port (the kernel
           hands each new connection to one of them);
  proxy    N separate `firebell serve` processes on ports of their own behind bench/_proxy.py, a
           round-robin TCP proxy (round robin per connection, not per request: the load
           generator keeps C keep-alive connections, so each replica gets about C/N of them).

Each run gets a fresh scratch database (a copy of one migrated template on the server of
FIREBELL_BENCH_PG_URL or FIREBELL_TEST_PG_URL) and fresh fakes of Slack, Twilio and Jira
(tests/support, in a process of their own), and measures, in this order:
  1. intake, one fingerprint: Alertmanager webhooks (bearer token) for one alert at
     concurrency C (default 200);
  2. intake, many fingerprints: webhooks for F fingerprints over S services (each service one
     incident; every fingerprint's first arrival races its service's others);
  3. acks: signed `/incident help` (and one in ten `/oncall payments`) at concurrency 40;
  4. replay: one signed `/incident note INC-n <marker>` sent byte for byte to two different
     replicas at the same instant, then once more to another after both answered.
Then it waits for the dispatchers and checks: one incident per service (one for the storm),
one page per paged person and channel (database) and one SMS per paged person (Twilio), one
ticket per incident (database and Jira), every ack answered exactly once on its response_url,
the replayed note recorded once and answered once. A failed check prints FAIL; the bench then
exits 1.

Beside each run's rates it prints the servers' CPU milliseconds per request: on a machine
shared with other work, N processes also take a larger share of the CPU from the neighbours,
which raises the rate without any gain in efficiency; the CPU per request shows what each
request cost. The load generator (aiohttp), the fakes and the proxy run on the same cores.

    python -m bench.scaleout [--replicas 1,2,4] [--deployments workers,proxy] [--alerts N]
        [--fingerprints F] [--services S] [--requests R] [--concurrency C] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import multiprocessing
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench._scratch import Scratch
from tests.support.paths import ROOT
from tests.support.slack_fake import TEAM
from tests.support.slack_helpers import BOT_TOKEN, SIGNING_SECRET, free_port, signature_headers
from tests.support.twilio_fake import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER

TOKEN = "bench-scaleout-token-0123456789"
PAGED = {"alice": "+15550100001", "bob": "+15550100002"}  # step 0 pages both, by SMS and chat
ACK_CONCURRENCY = 40
ONCALL_EVERY = 10
DRAIN_SECONDS = 120


def _catalog(services: int) -> str:
    lines = "\n".join(f"  - {{id: svc{i}, name: Service {i}, team: payments, "
                      f"match: {{service: svc{i}}}}}" for i in range(services))
    return f"""
timezone: UTC
people:
  - {{id: alice, name: Alice, slack: U0ALICE, phone: "{PAGED['alice']}"}}
  - {{id: bob, name: Bob, slack: U0BOB, phone: "{PAGED['bob']}"}}
teams: [{{id: payments, name: Payments, slack_channel: C0PAYMENTS, escalation_policy: pay}}]
services:
  - {{id: checkout, name: Checkout API, team: payments, match: {{service: checkout}}}}
{lines}
schedules:
  - {{id: primary, team: payments,
     rotation: {{every: 1w, handoff: "Mon 09:00", start: "2026-01-05", members: [alice]}}}}
escalation_policies:
  - {{id: pay, steps: [{{notify: ["schedule:primary", "person:bob"], ack_timeout: 1h}}]}}
priorities:
  response:
    P1: {{page: true, ack_within: 1h, channels: [sms, chat], update_every: 1h}}
    P2: {{page: true, ack_within: 1h, channels: [sms, chat]}}
    P3: {{page: false, ack_within: 8h, channels: [chat]}}
    P4: {{page: false, ack_within: 5d, channels: [ticket]}}
intake:
  rate_limit: {{per_second: 100000, burst: 100000}}
"""


def _alert(service: str, fingerprint: str) -> bytes:
    labels = {"alertname": "Errors", "service": service, "severity": "critical",
              "instance": fingerprint}
    return json.dumps({
        "version": "4", "groupKey": f"bench:{fingerprint}", "status": "firing",
        "receiver": "firebell", "groupLabels": labels, "commonLabels": labels,
        "commonAnnotations": {}, "externalURL": "http://alertmanager:9093", "truncatedAlerts": 0,
        "alerts": [{"status": "firing", "labels": labels,
                    "annotations": {"summary": f"{service} errors on {fingerprint}"},
                    "startsAt": "2026-11-24T09:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "http://prometheus:9090/graph", "fingerprint": fingerprint}],
    }).encode()


INTAKE_HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}


def _command(slack_base: str, key: str, command: str, text: str) -> tuple[bytes, dict[str, str]]:
    """A slash command as Slack signs it; its answer goes to the fake's /response/<key>."""
    body = urlencode({
        "team_id": TEAM, "channel_id": "C0BENCH", "user_id": "U0ALICE", "command": command,
        "text": text, "response_url": f"{slack_base}/response/{key}", "trigger_id": key,
    })
    return body.encode(), {"Content-Type": "application/x-www-form-urlencoded",
                           **signature_headers(body)}


# the fakes: Slack, Twilio and Jira in a process of their own ------------------------------------
def _fakes(conn: Connection) -> None:
    """Serve the fakes until told to stop, answering what they received. In the load
    generator's process their threads would take the GIL from its event loop."""
    from tests.support.slack_fake import FakeSlack
    from tests.support.slack_helpers import ThreadedServer
    from tests.support.tracker_fake import FakeTracker
    from tests.support.twilio_fake import FakeTwilio

    tracker = FakeTracker()
    with FakeSlack() as slack, FakeTwilio() as twilio:
        jira = ThreadedServer(tracker.app()).start()
        conn.send((slack.base, twilio.api_url, jira.url))
        while (message := conn.recv()) != "stop":
            if message == "responses":  # response_url key -> answers posted to it
                with slack._lock:
                    conn.send({key: len(bodies) for key, bodies in slack.responses.items()})
            elif message == "sms":  # (to, page id) of every SMS
                conn.send([(s.to, s.page) for s in twilio.messages()])
            elif message == "issues":  # the labels of every issue made
                conn.send([list(issue["labels"]) for issue in tracker.issues])
        jira.stop()


class Fakes:
    def __init__(self) -> None:
        context = multiprocessing.get_context("fork")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_fakes, args=(child,), daemon=True)
        self._process.start()
        self.slack, self.twilio, self.jira = self._conn.recv()

    def ask(self, what: str) -> Any:
        self._conn.send(what)
        return self._conn.recv()

    def stop(self) -> None:
        self._conn.send("stop")
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()


# the deployments ------------------------------------------------------------------------------
def _env(database: str, catalog: Path, fakes: Fakes, port: int, workers: int) -> dict[str, str]:
    env = {**os.environ, "FIREBELL_CONFIG": str(catalog), "DATABASE_URL": database,
           "FIREBELL_WEBHOOK_TOKEN": TOKEN, "HOST": "127.0.0.1", "PORT": str(port),
           "FIREBELL_WORKERS": str(workers),
           "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
           "SLACK_API_URL": f"{fakes.slack}/api/",
           "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
           "TWILIO_FROM_NUMBER": FROM_NUMBER, "TWILIO_API_URL": fakes.twilio,
           "JIRA_URL": fakes.jira, "JIRA_USER": "bench@example.com", "JIRA_API_TOKEN": "bench",
           "JIRA_PROJECT": "OPS"}
    for name in ("SLACK_APP_TOKEN", "GITHUB_TOKEN", "FIREBELL_PUBLIC_URL", "PUBLIC_URL"):
        env.pop(name, None)
    return env


@dataclass
class Deployment:
    """N replicas of `firebell serve`, started: `url` is where the load goes (the shared port,
    or the proxy)."""

    kind: str  # "workers" | "proxy"
    n: int
    url: str
    ports: list[int]  # the shared port (workers), or each replica's own (proxy)
    servers: list[subprocess.Popen[bytes]]
    logs: list[Path]
    proxy: subprocess.Popen[bytes] | None = None
    proxied: list[int] = field(default_factory=list)  # connections given to each backend
    proxy_cpu: float = 0.0  # CPU seconds the proxy used

    def cpu_seconds(self) -> float:
        """CPU time the servers (and their worker processes) have used so far."""
        return sum(_cpu_seconds(pid) for server in self.servers
                   for pid in _descendants(server.pid))

    def stop(self) -> None:
        if self.proxy is not None:
            self.proxy_cpu = _cpu_seconds(self.proxy.pid)
            self.proxy.terminate()
            out, _ = self.proxy.communicate(timeout=10)
            self.proxied = list(json.loads(out or b'{"connections": []}')["connections"])
        for server in self.servers:
            server.terminate()
        for server in self.servers:
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)  # its own group: the server and its workers
                server.wait(timeout=10)


def _start_serve(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        # A file, not a pipe: a pipe nobody reads fills up and the server stops at a write.
        return subprocess.Popen([sys.executable, "app.py", "serve"], cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def start(kind: str, n: int, *, database: str, catalog: Path, fakes: Fakes,
          tmp: Path) -> Deployment:
    if kind == "workers":
        port = free_port()
        log = tmp / f"serve-{kind}-{n}.log"
        servers = [_start_serve(_env(database, catalog, fakes, port, n), log)]
        deployment = Deployment(kind, n, f"http://127.0.0.1:{port}", [port], servers, [log])
    else:
        ports = [free_port() for _ in range(n)]
        logs = [tmp / f"serve-{kind}-{n}-{i}.log" for i in range(n)]
        servers = [_start_serve(_env(database, catalog, fakes, port, 1), log)
                   for port, log in zip(ports, logs, strict=True)]
        listen = free_port()
        proxy = subprocess.Popen([sys.executable, "-m", "bench._proxy", str(listen),
                                  *map(str, ports)], cwd=ROOT, stdout=subprocess.PIPE)
        deployment = Deployment(kind, n, f"http://127.0.0.1:{listen}", ports, servers, logs,
                                proxy=proxy)
    try:
        _wait_started(deployment, processes=n if kind == "workers" else 1)
    except BaseException:
        deployment.stop()
        raise
    return deployment


def _wait_started(deployment: Deployment, *, processes: int) -> None:
    """Every replica healthy, and `processes` of its processes accepting connections; then
    the proxy, if any, answering."""
    import httpx

    deadline = time.monotonic() + 120
    pending = list(zip(deployment.ports, deployment.servers, deployment.logs, strict=True))
    while pending:
        port, server, log = pending[0]
        if server.poll() is not None:
            raise RuntimeError("firebell serve exited:\n" + log.read_text()[-3000:])
        if time.monotonic() > deadline:
            raise RuntimeError("firebell serve did not start:\n" + log.read_text()[-3000:])
        try:
            healthy = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            healthy = False
        if healthy and _accepting(port, server.pid) >= processes:
            pending.pop(0)
        else:
            time.sleep(0.2)
    while deployment.proxy is not None:
        if deployment.proxy.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the proxy did not start")
        try:
            if httpx.get(f"{deployment.url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)


def _open(port: int, count: int) -> list[socket.socket]:
    """`count` connections, one at a time (a worker accepts every connection waiting when it
    wakes up), given the time to be accepted."""
    opened = []
    for _ in range(count):
        opened.append(socket.create_connection(("127.0.0.1", port)))
        time.sleep(0.02)
    time.sleep(0.3)
    return opened


def _accepting(port: int, root: int) -> int:
    """How many of the server's processes accept connections (a worker does once its start-up
    is done): a few connections are opened and their owners looked up."""
    opened = _open(port, 8)
    try:
        return len({owner for owner in _owners(port, opened, root) if owner is not None})
    finally:
        for connection in opened:
            connection.close()


class _Spread:
    """A second into a run, how many of the client's connections each worker process holds
    (FIREBELL_WORKERS > 1: the kernel, not Firebell, decides where a connection goes)."""

    def __init__(self, deployment: Deployment) -> None:
        self._counts: list[int] = []
        self._thread: threading.Thread | None = None
        if deployment.kind == "workers" and deployment.n > 1:
            port, root = deployment.ports[0], deployment.servers[0].pid
            self._thread = threading.Thread(target=self._sample, args=(port, root), daemon=True)
            self._thread.start()

    def _sample(self, port: int, root: int) -> None:
        time.sleep(1.0)
        self._counts = sorted(Counter(_accepted(port, root).values()).values(), reverse=True)

    def result(self) -> list[int]:
        if self._thread is not None:
            self._thread.join()
        return self._counts


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# the load -------------------------------------------------------------------------------------
Request = tuple[str, bytes, dict[str, str]]  # path, body, headers


async def _blast(base: str, requests: Iterator[Request], *, concurrency: int
                 ) -> tuple[float, Counter[int]]:
    """Send every request, `concurrency` at a time over as many keep-alive connections;
    returns the seconds taken and the statuses answered."""
    import aiohttp

    statuses: Counter[int] = Counter()

    async def worker(session: aiohttp.ClientSession) -> None:
        for path, body, headers in requests:
            async with session.post(base + path, data=body, headers=headers) as response:
                await response.read()
                statuses[response.status] += 1

    timeout = aiohttp.ClientTimeout(total=60)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        began = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        return time.perf_counter() - began, statuses


def _storm(alerts: int) -> Iterator[Request]:
    body = _alert("checkout", "c0ffee")
    return (("/webhooks/alertmanager", body, INTAKE_HEADERS) for _ in range(alerts))


def _spread(alerts: int, fingerprints: int, services: int) -> Iterator[Request]:
    """Round after round over every fingerprint: each fingerprint's first alert races the
    first alerts of the other fingerprints of its service."""
    bodies = [_alert(f"svc{f % services}", f"fp{f:04x}") for f in range(fingerprints)]
    return (("/webhooks/alertmanager", bodies[n % fingerprints], INTAKE_HEADERS)
            for n in range(alerts))


def _acks(slack_base: str, prefix: str, count: int) -> Iterator[Request]:
    for n in range(count):
        command, text = ("/oncall", "payments") if n % ONCALL_EVERY == 0 else ("/incident", "help")
        body, headers = _command(slack_base, f"{prefix}{n}", command, text)
        yield "/slack/events", body, headers


# the replay across replicas -------------------------------------------------------------------
def _raw_post(path: str, body: bytes, headers: dict[str, str], port: int) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}",
             f"Content-Length: {len(body)}", "Connection: close",
             *(f"{name}: {value}" for name, value in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _owners(port: int, sockets: list[socket.socket], root: int) -> list[int | None]:
    """The process (the server `root` or one of its descendants) that accepted each of
    `sockets`."""
    accepted = _accepted(port, root)
    return [accepted.get(s.getsockname()[1]) for s in sockets]


def _accepted(port: int, root: int) -> dict[int, int]:
    """Client port -> the process (`root` or a descendant) holding the connection's server
    side, read from /proc: the server side's socket inode, found among the processes' fds."""
    inodes: dict[int, int] = {}  # client port -> the server side's socket inode
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            parts = line.split()
            local, remote = int(parts[1].rsplit(":", 1)[1], 16), int(parts[2].rsplit(":", 1)[1], 16)
            if local == port:
                inodes[remote] = int(parts[9])
    owner_of: dict[int, int] = {}
    for pid in _descendants(root):
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    owner_of[int(target[8:-1])] = pid
        except (FileNotFoundError, PermissionError):
            continue
    return {client: owner_of[inode] for client, inode in inodes.items()
            if client and inode in owner_of}


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except FileNotFoundError:
            continue
    return found


def _replica_connections(deployment: Deployment) -> tuple[list[socket.socket], list[str]]:
    """Open connections to as many distinct replicas as there are (two at most, then one more
    for the late duplicate), each labelled with the replica it reached."""
    if deployment.kind == "proxy":
        ports = deployment.ports
        chosen = [ports[0], ports[1 % len(ports)], ports[2 % len(ports)]]
        sockets = [socket.create_connection(("127.0.0.1", p)) for p in chosen]
        return sockets, [f"port {p}" for p in chosen]
    port = deployment.ports[0]
    opened = _open(port, 4 * deployment.n + 2)
    owners = _owners(port, opened, deployment.servers[0].pid)
    picked: list[int] = []
    for _ in range(3):  # a replica not picked yet if there is one, else any other connection
        seen = {owners[i] for i in picked}
        fresh = [i for i, owner in enumerate(owners) if owner is not None and owner not in seen]
        picked.append((fresh or [i for i in range(len(opened)) if i not in picked])[0])
    for i, s in enumerate(opened):
        if i not in picked:
            s.close()
    return [opened[i] for i in picked], [f"pid {owners[i]}" for i in picked]


def _exchange(connection: socket.socket, request: bytes, start: threading.Barrier) -> int:
    start.wait()
    connection.sendall(request)
    answer = b""
    while chunk := connection.recv(65536):
        answer += chunk
    connection.close()
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0


def replay(deployment: Deployment, slack_base: str, incident: int, marker: str
           ) -> tuple[list[int], list[str]]:
    """The same signed `/incident note` to two replicas at once, then to a third (or the first
    again) after both answered; returns the statuses and where each went."""
    body, headers = _command(slack_base, f"replay-{marker}", "/incident",
                             f"note INC-{incident} {marker}")
    connections, where = _replica_connections(deployment)
    request = _raw_post("/slack/events", body, headers, 0)
    both = threading.Barrier(2)
    statuses = [0, 0]

    def send(i: int) -> None:
        statuses[i] = _exchange(connections[i], request, both)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    time.sleep(0.5)
    statuses.append(_exchange(connections[2], request, threading.Barrier(1)))
    return statuses, where


# the checks -----------------------------------------------------------------------------------
@dataclass
class Expected:
    services: int  # incidents of the many-fingerprint run
    fingerprints: int
    signals: int
    acks: list[str]  # response_url keys, each answered once
    marker: str


def _query(database: str, sql: str, **params: Any) -> list[Any]:
    from sqlalchemy import create_engine, text

    engine = create_engine(database)
    try:
        with engine.connect() as c:
            return list(c.execute(text(sql), params).all())
    finally:
        engine.dispose()


def _drained(database: str, fakes: Fakes, expected: Expected) -> bool:
    incidents = 1 + expected.services
    ticketed = _query(database, "SELECT count(*) FROM incidents WHERE ticket IS NOT NULL")[0][0]
    responses = fakes.ask("responses")
    return (len(fakes.ask("sms")) >= incidents * len(PAGED) and ticketed >= incidents
            and len(fakes.ask("issues")) >= incidents
            and all(key in responses for key in expected.acks)
            and f"replay-{expected.marker}" in responses)


def check(database: str, fakes: Fakes, expected: Expected) -> list[tuple[str, bool, str]]:
    """(what, held, what was found) of every exactly-once promise."""
    deadline = time.monotonic() + DRAIN_SECONDS
    while not _drained(database, fakes, expected) and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(2)  # a duplicate would come late: give it the time
    incidents = _query(database, "SELECT id, service, ticket FROM incidents")
    by_service = Counter(row.service for row in incidents)
    ids = {row.id for row in incidents}
    counts = {name: _query(database, f"SELECT count(*) FROM {name}")[0][0]
              for name in ("alerts", "signals")}
    pages = _query(database, "SELECT id, incident_id, person, channel FROM pages")
    per_page = Counter((p.incident_id, p.person, p.channel) for p in pages)
    wanted_pages = {(i, person, channel) for i in ids for person in PAGED
                    for channel in ("sms", "chat")}
    page_of = {p.id: (p.incident_id, p.person) for p in pages}
    sms = fakes.ask("sms")
    per_sms = Counter(page_of.get(page, (None, to)) for to, page in sms)
    issues = Counter(label for labels in fakes.ask("issues") for label in labels
                     if label.startswith("firebell-inc-"))
    responses = fakes.ask("responses")
    acked = Counter(responses.get(key, 0) for key in expected.acks)
    notes = _query(database, "SELECT count(*) FROM timeline_events WHERE kind = 'note' "
                   "AND text = :marker", marker=expected.marker)[0][0]
    one_each = all(by_service[f"svc{i}"] == 1 for i in range(expected.services))
    return [
        ("one incident for the one-fingerprint storm", by_service["checkout"] == 1,
         f"{by_service['checkout']} incident(s)"),
        ("one incident per service of the many-fingerprint run",
         one_each and len(incidents) == 1 + expected.services,
         f"{len(incidents) - by_service['checkout']} incidents for {expected.services} services"),
        ("every alert once, every signal answered 200 recorded once",
         counts == {"alerts": 1 + expected.fingerprints, "signals": expected.signals},
         f"{counts['alerts']} alerts, {counts['signals']} signals"),
        ("one page per paged person and channel (database)",
         set(per_page) == wanted_pages and set(per_page.values()) == {1},
         f"{len(pages)} pages for {len(wanted_pages)} (incident, person, channel)"),
        ("one SMS per paged person (Twilio)",
         set(per_sms) == {(i, person) for i in ids for person in PAGED}
         and set(per_sms.values()) == {1},
         f"{len(sms)} SMS for {len(ids) * len(PAGED)} (incident, person)"),
        ("one ticket per incident (database and Jira)",
         all(row.ticket for row in incidents) and len(issues) == len(ids)
         and set(issues.values()) == {1},
         f"{sum(1 for r in incidents if r.ticket)} linked, {sum(issues.values())} Jira issues "
         f"for {len(ids)} incidents"),
        ("every ack answered once on its response_url", set(acked) == {1},
         f"answers per command: {dict(sorted(acked.items()))}"),
        ("the replayed note acted on once",
         notes == 1 and responses.get(f"replay-{expected.marker}") == 1,
         f"{notes} note(s), {responses.get(f'replay-{expected.marker}', 0)} answer(s) posted"),
    ]


# one run ------------------------------------------------------------------------------------
@dataclass
class Result:
    kind: str
    n: int
    rates: dict[str, float]
    cpu_ms: dict[str, float]
    checks: list[tuple[str, bool, str]]
    notes: list[str]

    @property
    def ok(self) -> bool:
        return all(held for _, held, _ in self.checks)


def run(kind: str, n: int, args: argparse.Namespace, scratch: Scratch, template: str,
        catalog: Path, tmp: Path) -> Result:
    database = scratch.url(scratch.create(copy_of=template))
    fakes = Fakes()
    marker = f"replay-check-{uuid.uuid4().hex[:8]}"
    prefix = f"ack-{kind}-{n}-"
    notes: list[str] = []
    rates: dict[str, float] = {}
    cpu_ms: dict[str, float] = {}  # the servers' CPU time per request
    statuses: Counter[int] = Counter()
    stored = 0  # webhooks answered 200: each signal stored once
    try:
        began = time.monotonic()
        deployment = start(kind, n, database=database, catalog=catalog, fakes=fakes, tmp=tmp)
        notes.append(f"started in {time.monotonic() - began:.0f}s")
        try:
            # Bolt's first request in each process calls auth.test: not part of the figure.
            warm = list(_acks(fakes.slack, f"warm-{kind}-{n}-", 4 * n))
            seconds, answered = asyncio.run(_blast(deployment.url, iter(warm),
                                                   concurrency=2 * n))
            statuses += answered
            for name, requests, count, concurrency in (
                ("intake 1 fp", _storm(args.alerts), args.alerts, args.concurrency),
                ("intake many fp", _spread(args.spread_alerts, args.fingerprints, args.services),
                 args.spread_alerts, args.concurrency),
                ("acks", _acks(fakes.slack, prefix, args.requests), args.requests,
                 ACK_CONCURRENCY),
            ):
                sampler, cpu = _Spread(deployment), deployment.cpu_seconds()
                seconds, answered = asyncio.run(_blast(deployment.url, requests,
                                                       concurrency=concurrency))
                cpu_ms[name] = (deployment.cpu_seconds() - cpu) * 1000 / count
                if spread := sampler.result():
                    notes.append(f"{name}: connections per worker process {spread}")
                statuses += answered
                stored += answered[200] if name.startswith("intake") else 0
                rates[name] = count / seconds
            incident = _query(database, "SELECT id FROM incidents WHERE service = 'checkout'")
            replayed, where = replay(deployment, fakes.slack, incident[0][0] if incident else 0,
                                     marker)
            notes.append(f"replay sent to {where[0]} and {where[1]} at once, then {where[2]}: "
                         f"answered {replayed}")
            expected = Expected(services=args.services, fingerprints=args.fingerprints,
                                signals=stored,
                                acks=[f"{prefix}{i}" for i in range(args.requests)],
                                marker=marker)
            checks = check(database, fakes, expected)
            notes.append("server CPU ms per request: " + ", ".join(
                f"{name} {ms:.1f}" for name, ms in cpu_ms.items()))
        finally:
            deployment.stop()
        if deployment.proxied:
            notes.append(f"proxy: connections per replica {deployment.proxied}, proxy CPU "
                         f"{deployment.proxy_cpu:.1f}s")
        checks.insert(0, ("every request answered 200", set(statuses) == {200} and
                          set(replayed) == {200}, f"answers {dict(statuses)}"))
        result = Result(kind, n, rates, cpu_ms, checks, notes)
        if not result.ok:
            result.notes.append("the servers' errors:\n" + _errors(deployment.logs))
        return result
    finally:
        fakes.stop()


def _errors(logs: list[Path], limit: int = 10) -> str:
    """The servers' ERROR records, each with the exception its traceback ends in, counted."""
    found: Counter[str] = Counter()
    for log in logs:
        record = ""
        for line in log.read_text(errors="replace").splitlines():
            if line[:4].isdigit():  # a record starts with its date; a traceback's lines do not
                if record:
                    found[record] += 1
                record = line[24:] if (" ERROR " in line or " CRITICAL " in line) else ""
            elif record and (name := re.match(r"([A-Za-z_][\w.]*): ", line)) \
                    and not name[1].isupper():  # not psycopg's DETAIL:, HINT:, CONTEXT:
                record = f"{record.split(' -> ')[0]} -> {line.strip()}"  # the exception raised
        if record:
            found[record] += 1
    return "\n".join(f"    {count} x {what}" for what, count in found.most_common(limit)) \
        or "    (none logged)"


# the report ---------------------------------------------------------------------------------
def _loadavg() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def _machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
               "unknown CPU")
    ram = int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024
    return f"{os.cpu_count()} cores ({cpu}), {ram:.0f} GB RAM"


def report(results: list[Result]) -> None:
    """The table: each rate with the ratio to the same deployment's N=1, and the servers' CPU
    milliseconds per request."""
    names = list(results[0].rates) if results else []
    print("\nrequests/s (x this deployment's N=1) and the servers' CPU ms per request:")
    print(f"  {'deployment':<10} {'N':>2}  " + "".join(f"{name:>26}" for name in names)
          + "  checks")
    for result in results:
        base = next((r for r in results if r.kind == result.kind and r.n == 1), None)
        cells = []
        for name in names:
            rate = result.rates.get(name, 0.0)
            ratio = f"{rate / base.rates[name]:4.2f}x" if base and base.rates.get(name) else "  - "
            cells.append(f"{rate:>6,.0f}/s ({ratio}) {result.cpu_ms.get(name, 0.0):4.1f} ms")
        print(f"  {result.kind:<10} {result.n:>2}  " + "".join(f"{c:>26}" for c in cells)
              + f"  {'OK' if result.ok else 'FAIL'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scaleout")
    parser.add_argument("--replicas", help="comma-separated N (default 1,2,4; --quick 1,2)")
    parser.add_argument("--deployments", default="workers,proxy")
    parser.add_argument("--alerts", type=int, default=3000, help="one-fingerprint storm")
    parser.add_argument("--spread-alerts", type=int, default=2000,
                        help="alerts of the many-fingerprint run")
    parser.add_argument("--fingerprints", type=int, default=200)
    parser.add_argument("--services", type=int, default=20)
    parser.add_argument("--requests", type=int, default=1500, help="signed slash commands")
    parser.add_argument("--concurrency", type=int, default=200, help="of the intake runs")
    parser.add_argument("--quick", action="store_true",
                        help="N = 1, 2 and a tenth of the load: a smoke run")
    args = parser.parse_args(argv if argv is not None else [])
    if args.quick:
        args.replicas = args.replicas or "1,2"
        args.alerts, args.spread_alerts, args.requests = 300, 200, 150
        args.fingerprints, args.services = 40, 4
    base = os.environ.get("FIREBELL_BENCH_PG_URL") or os.environ.get("FIREBELL_TEST_PG_URL")
    if not base:
        print("scaleout: skipped (set FIREBELL_BENCH_PG_URL or FIREBELL_TEST_PG_URL)")
        return 0
    replicas = [int(n) for n in (args.replicas or "1,2,4").split(",")]
    kinds = args.deployments.split(",")
    print(f"scaleout on PostgreSQL, {_machine()}; load average before: {_loadavg()}")
    print(f"  per run: {args.alerts} webhooks for 1 fingerprint and {args.spread_alerts} for "
          f"{args.fingerprints} fingerprints over {args.services} services at concurrency "
          f"{args.concurrency}; {args.requests} signed slash commands (/incident help, 1 in "
          f"{ONCALL_EVERY} /oncall payments) at concurrency {ACK_CONCURRENCY}; the proxy is "
          "round robin per connection over the client's keep-alive connections", flush=True)
    from storage.db import upgrade

    results: list[Result] = []
    with tempfile.TemporaryDirectory() as tmp:
        catalog = Path(tmp) / "catalog.yaml"
        catalog.write_text(_catalog(args.services))
        scratch = Scratch("postgresql", Path(tmp))
        try:
            template = scratch.create()
            upgrade(scratch.url(template))
            for n, kind in itertools.product(replicas, kinds):
                result = run(kind, n, args, scratch, template, catalog, Path(tmp))
                results.append(result)
                _print(result)
        finally:
            scratch.close()
    report(results)
    print(f"load average after: {_loadavg()}")
    failed = [r for r in results if not r.ok]
    if failed:
        print(f"FAIL: checks failed in {len(failed)} run(s): "
              + ", ".join(f"{r.kind} N={r.n}" for r in failed))
    return 1 if failed else 0


def _print(result: Result) -> None:
    rates = ", ".join(f"{name} {rate:,.0f}/s" for name, rate in result.rates.items())
    print(f"{result.kind} N={result.n}: {rates}; {'; '.join(result.notes)}; load average "
          f"{_loadavg()}", flush=True)
    for what, held, found in result.checks:
        print(f"  {'ok  ' if held else 'FAIL'} {what}: {found}", flush=True)

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
