"""What every loopback fake of a vendor's HTTP API shares: an `http.server` on 127.0.0.1 (a free
port) served by a daemon thread, a lock for the fake's state, and a request handler that answers
JSON and keeps quiet.

A fake subclasses `LoopbackFake`, sets its own state, calls `super().__init__()` last and builds
its handler in `_handler()` (a `JsonHandler` subclass that closes over the fake). What the vendor
answers stays in the fake's own module.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit


class LoopbackFake:
    """A fake server on loopback: `start()`/`stop()` or `with`; `url` is its base address."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    def start(self) -> Self:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


class JsonHandler(BaseHTTPRequestHandler):
    """A request handler that answers JSON and logs nothing (a test's output stays readable)."""

    content_type = "application/json"

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def send_body(self, status: int, data: bytes, content_type: str,
                  headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self.send_body(status, json.dumps(body).encode(), self.content_type, headers)

    def read_body(self) -> bytes:
        """The request's body (read in full, so that a kept-alive connection stays in step)."""
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def read_json(self, empty: Any = None) -> Any:
        """The body parsed as JSON, `empty` when there is none; ValueError when it is not JSON."""
        raw = self.read_body()
        return json.loads(raw) if raw else empty

    def query(self) -> dict[str, list[str]]:
        """The query string, each name with its values (`parse_qs`)."""
        return parse_qs(urlsplit(self.path).query)
