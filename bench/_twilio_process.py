"""The fake Twilio REST API (tests/support/twilio_fake.py) in a process of its own, for benchmarks: it
notes when each incident's first SMS and first call arrived, and can hold every request for one
number without an answer (a carrier or a Twilio edge that hangs)."""

from __future__ import annotations

import multiprocessing
import sys
import threading
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer
from multiprocessing.connection import Connection
from typing import Any

from tests.support.twilio_fake import FakeTwilio, callback_query


class HangingTwilio(FakeTwilio):
    """The fake Twilio, noting when each incident's first SMS and first call arrived; requests
    for a hung number are held without an answer until released (or for `hang_seconds`)."""

    def __init__(self, *, hang_seconds: float) -> None:
        super().__init__()
        self.hang_seconds = hang_seconds
        self.hung: set[str] = set()
        self.released = threading.Event()
        self.arrived: dict[tuple[int, str], datetime] = {}  # (incident, "sms" | "voice") -> when
        self.held = 0  # requests held for a hung number
        server = self._server

        def handle_error(request: Any, client_address: Any) -> None:
            # A held request is answered after its caller gave up: that broken pipe is expected.
            if not isinstance(sys.exc_info()[1], ConnectionError):
                ThreadingHTTPServer.handle_error(server, request, client_address)

        server.handle_error = handle_error  # type: ignore[method-assign]

    def _accept(self, kind: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        at = datetime.now(UTC)
        incident = int(callback_query(form.get("StatusCallback", "")).get("incident", "0"))
        hang = form.get("To") in self.hung and not self.released.is_set()
        with self._lock:
            self.arrived.setdefault((incident, kind), at)
            self.held += hang
        if hang:
            self.released.wait(self.hang_seconds)
        return super()._accept(kind, form)

    def command(self, verb: str, arg: str) -> object:
        """hang <number>, release, reset, count (incidents' first SMS and calls), report."""
        with self._lock:
            if verb == "hang":
                self.released.clear()
                self.hung = {arg}
            elif verb == "release":
                self.hung = set()
                self.released.set()
            elif verb == "reset":
                self.arrived, self.held = {}, 0
                self.sent.clear()
                self.requests.clear()
            elif verb == "count":
                return len(self.arrived)
            elif verb == "report":
                return dict(self.arrived), self.held
        return None


def _serve(conn: Connection, hang_seconds: float) -> None:
    """The fake Twilio in a process of its own, serving until told to stop. In Firebell's
    process its request threads would take the GIL from the dispatcher's workers, and the
    figures would measure the bench, not Firebell."""
    twilio = HangingTwilio(hang_seconds=hang_seconds)
    twilio.start()
    conn.send(twilio.api_url)
    while (message := conn.recv()) != "stop":
        verb, _, arg = message.partition(" ")
        conn.send(twilio.command(verb, arg))
    twilio.stop()


class TwilioProcess:
    """The parent's handle on the fake Twilio in its own process (forked, as bench.slack_ack
    runs its fake Slack)."""

    def __init__(self, *, hang_seconds: float) -> None:
        context = multiprocessing.get_context("fork")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child, hang_seconds), daemon=True)
        self._process.start()
        self.api_url = str(self._conn.recv())

    def ask(self, message: str) -> Any:
        self._conn.send(message)
        return self._conn.recv()

    def stop(self) -> None:
        self._conn.send("stop")
        self._process.join(timeout=10)
