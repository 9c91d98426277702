"""A fake Slack Web API on loopback that speaks the documented wire format.

Requests come form-encoded or as JSON (slack_sdk uses both), with the bot token in the
Authorization header; answers are `{"ok": true, ...}` or `{"ok": false, "error": ...}`. Every
call is recorded. Slash-command and interactivity `response_url`s point at `/response/<id>`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import count
from typing import Any
from urllib.parse import parse_qsl

from tests.support.blockkit import block_kit_problems
from tests.support.fake_faults import Arrival, Fault, FaultPlan, Where

BOT_USER = "U0FIREBELL"
BOT_ID = "B0FIREBELL"
TEAM = "T0FIREBELL"


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float = field(default_factory=time.monotonic)


class FakeSlack:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.throttled: list[str] = []  # methods answered with 429
        self.responses: dict[str, list[dict[str, Any]]] = {}  # response_url id -> bodies
        self.taken_names: set[str] = set()
        self.channels: dict[str, dict[str, Any]] = {}
        self.history: dict[str, list[dict[str, Any]]] = {}  # channel -> messages, oldest first
        self.user_groups: dict[str, list[str]] = {}
        self.uploads: dict[str, dict[str, Any]] = {}  # file id -> name, title, content
        self.homes: dict[str, dict[str, Any]] = {}  # user id -> the App Home view published last
        self.bookmarks: dict[str, list[dict[str, Any]]] = {}  # channel id -> its bookmarks
        # When set, auth.test answers {"ok": false, "error": auth_error}: a refused bot token
        # ("invalid_auth", "token_revoked" ...), as Slack answers it.
        self.auth_error: str | None = None
        self._fail_next: dict[str, int] = {}  # method -> Retry-After seconds
        self.faults = FaultPlan()  # delays, hangs, failures, and every call's arrival
        self._lock = threading.Lock()
        self._ids = count(1)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # lifecycle -----------------------------------------------------------------
    def start(self) -> FakeSlack:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.faults.release_all()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def api_url(self) -> str:
        """What SLACK_API_URL should be."""
        return f"{self.base}/api/"

    def response_url(self) -> tuple[str, str]:
        """A fresh response_url and its id."""
        key = f"r{next(self._ids)}"
        return key, f"{self.base}/response/{key}"

    # test controls ------------------------------------------------------------
    def throttle_next(self, method: str, *, retry_after: int = 1) -> None:
        """Answer the next call of `method` with HTTP 429 and Retry-After."""
        with self._lock:
            self._fail_next[method] = retry_after

    def inject(self, method: str, *, where: Where | None = None, **options: Any) -> Fault:
        """Delay, hang, fail or accept-then-time-out calls of `method` (see `fake_faults`).
        `options` are Fault's (delay, hang, accepted, status, accept_then_sleep, times) plus
        `equals`, a dict of parameters the call must have."""
        return self.faults.add(Fault(method, where=where, **options))

    def wait_arrival(self, method: str, *, count: int = 1, timeout: float = 10.0,
                     where: Where | None = None, **equals: Any) -> list[Arrival]:
        """Wait until `count` calls of `method` with these parameters reached the fake (before
        it acted on them, delayed or hung them)."""
        return self.faults.wait_arrival(method, where=where, count=count, timeout=timeout,
                                        **equals)

    def calls_to(self, method: str, **where: Any) -> list[Call]:
        with self._lock:
            calls = list(self.calls)
        return [c for c in calls if c.method == method
                and all(c.params.get(k) == v for k, v in where.items())]

    def direct_messages(self, user: str) -> list[Call]:
        """chat.postMessage calls into the DM channel `conversations.open` gave for `user`."""
        return self.calls_to("chat.postMessage", channel=f"D{user}")

    def texts(self, key: str) -> list[str]:
        with self._lock:
            return [str(body.get("text", "")) for body in self.responses.get(key, [])]

    def wait_for(self, predicate: Callable[[], Any], *, timeout: float = 5.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {predicate}")
            time.sleep(0.02)

    def wait_for_response(self, key: str, *, count: int = 1, timeout: float = 5.0) -> list[str]:
        self.wait_for(lambda: len(self.texts(key)) >= count, timeout=timeout)
        return self.texts(key)

    # the API ---------------------------------------------------------------------
    def _answer(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        channel = str(params.get("channel", ""))
        if method == "auth.test":
            if self.auth_error:
                return {"ok": False, "error": self.auth_error}
            return {"url": "https://firebell-test.slack.com/", "team": "Firebell Test",
                    "user": "firebell", "team_id": TEAM, "user_id": BOT_USER, "bot_id": BOT_ID}
        if method == "conversations.create":
            name = str(params.get("name", ""))
            if name in self.taken_names:
                return {"ok": False, "error": "name_taken"}
            self.taken_names.add(name)
            new: dict[str, Any] = {"id": f"C{next(self._ids):06d}", "name": name,
                   "is_private": str(params.get("is_private")).lower() in ("1", "true")}
            self.channels[new["id"]] = new
            return {"channel": new}
        if method in ("conversations.invite", "conversations.setTopic", "conversations.info"):
            return {"channel": self.channels.get(channel, {"id": channel})}
        if method == "conversations.open":
            return {"channel": {"id": f"D{params.get('users')}"}}
        if method in ("chat.postMessage", "chat.update"):
            raw = params.get("blocks") or []
            problems = block_kit_problems(blocks=json.loads(raw) if isinstance(raw, str) else raw)
            if problems:  # what Slack answers to blocks past its limits
                return {"ok": False, "error": "invalid_blocks",
                        "response_metadata": {"messages": problems}}
        if method == "chat.postMessage":
            ts = f"{time.time():.6f}"
            message = {"type": "message", "ts": ts, "text": params.get("text"), "user": BOT_USER,
                       "bot_id": BOT_ID, "blocks": params.get("blocks") or []}
            metadata = params.get("metadata")
            if metadata:
                message["metadata"] = json.loads(metadata) if isinstance(metadata, str) else metadata
            self.history.setdefault(channel, []).append(message)
            return {"channel": channel, "ts": ts, "message": message}
        if method == "chat.update":
            ts = str(params.get("ts"))
            for message in self.history.get(channel, []):
                if message["ts"] == ts:
                    blocks = params.get("blocks") or []
                    message.update(text=params.get("text"),
                                   blocks=json.loads(blocks) if isinstance(blocks, str) else blocks)
                    return {"channel": channel, "ts": ts, "text": message["text"]}
            return {"ok": False, "error": "message_not_found"}
        if method == "conversations.list":
            return {"channels": list(self.channels.values()), "response_metadata": {"next_cursor": ""}}
        if method == "conversations.history":
            oldest = float(params.get("oldest") or 0)
            found = [m for m in self.history.get(channel, []) if float(m["ts"]) > oldest]
            start = int(params.get("cursor") or 0)
            limit = int(params.get("limit") or 100)
            following = start + limit if start + limit < len(found) else None
            return {"messages": list(reversed(found))[start:start + limit], "has_more": bool(following),
                    "response_metadata": {"next_cursor": str(following) if following else ""}}
        if method == "usergroups.users.update":
            group = str(params.get("usergroup"))
            self.user_groups[group] = str(params.get("users", "")).split(",")
            return {"usergroup": {"id": group, "users": self.user_groups[group]}}
        if method == "files.getUploadURLExternal":
            file_id = f"F{next(self._ids):06d}"
            self.uploads[file_id] = {"name": params.get("filename"), "content": None}
            return {"file_id": file_id, "upload_url": f"{self.base}/upload/{file_id}"}
        if method == "files.completeUploadExternal":
            files = params.get("files")
            files = json.loads(files) if isinstance(files, str) else files or []
            for f in files:
                self.uploads[f["id"]].update(title=f.get("title"), channel=params.get("channel_id"))
            return {"files": [{"id": f["id"], "title": f.get("title"),
                               "permalink": f"https://firebell-test.slack.com/files/{f['id']}"}
                              for f in files]}
        if method == "chat.postEphemeral":
            return {"message_ts": f"{time.time():.6f}"}
        if method in ("views.open", "views.push", "views.update"):
            view = params.get("view")
            view = json.loads(view) if isinstance(view, str) else view
            if block_kit_problems(view=view or {}):
                return {"ok": False, "error": "invalid_arguments",
                        "response_metadata": {"messages": block_kit_problems(view=view or {})}}
            return {"view": {**(view or {}), "id": f"V{next(self._ids)}"}}
        if method == "views.publish":  # an App Home: Slack refuses a view beyond its limits
            view = params.get("view")
            view = json.loads(view) if isinstance(view, str) else view or {}
            if view.get("type") != "home" or not 0 < len(view.get("blocks") or []) <= 100 \
                    or block_kit_problems(view=view):
                return {"ok": False, "error": "invalid_arguments"}
            self.homes[str(params.get("user_id"))] = view
            return {"view": {**view, "id": f"V{next(self._ids)}"}}
        if method == "users.info":
            return {"user": {"id": params.get("user"), "name": str(params.get("user")).lower()}}
        if method == "pins.add":
            return {}
        if method.startswith("bookmarks."):
            return self._bookmark(method, params)
        return {"ok": False, "error": "unknown_method"}

    def _bookmark(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """bookmarks.add, .list, .edit as Slack documents them (channel_id, bookmark_id)."""
        channel = str(params.get("channel_id", ""))
        if channel not in self.channels:
            return {"ok": False, "error": "channel_not_found"}
        kept = self.bookmarks.setdefault(channel, [])
        if method == "bookmarks.list":
            return {"bookmarks": [dict(b) for b in kept]}
        if method == "bookmarks.add":
            if params.get("type") != "link" or not params.get("title") or not params.get("link"):
                return {"ok": False, "error": "invalid_arguments"}
            bookmark = {"id": f"Bk{next(self._ids):06d}", "channel_id": channel, "type": "link",
                        "title": params["title"], "link": params["link"]}
            kept.append(bookmark)
            return {"bookmark": dict(bookmark)}
        if method == "bookmarks.edit":
            found = next((b for b in kept if b["id"] == params.get("bookmark_id")), None)
            if found is None:
                return {"ok": False, "error": "not_found"}
            found.update({k: params[k] for k in ("title", "link") if params.get(k)})
            return {"bookmark": dict(found)}
        return {"ok": False, "error": "unknown_method"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(self, status: int, body: dict[str, Any] | str,
                      headers: dict[str, str] | None = None) -> None:
                data = (body if isinstance(body, str) else json.dumps(body)).encode()
                try:
                    self.send_response(status)
                    content_type = "text/plain" if isinstance(body, str) else "application/json"
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(data)))
                    for key, value in (headers or {}).items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timed out, or was killed) before the answer

            def _params(self) -> dict[str, Any]:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                if "json" in (self.headers.get("Content-Type") or ""):
                    return dict(json.loads(raw or "{}"))
                return dict(parse_qsl(raw, keep_blank_values=True))

            def do_POST(self) -> None:
                if self.path.startswith("/upload/"):
                    data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                    with fake._lock:
                        fake.uploads[self.path.rsplit("/", 1)[1]]["content"] = data.decode()
                    self._send(200, f"OK - {len(data)}")
                    return
                params = self._params()
                if self.path.startswith("/response/"):
                    with fake._lock:
                        fake.responses.setdefault(self.path.rsplit("/", 1)[1], []).append(params)
                    self._send(200, "ok")
                    return
                if not self.path.startswith("/api/"):
                    self._send(404, "not found")
                    return
                method = self.path.removeprefix("/api/").split("?")[0]
                with fake._lock:
                    retry_after = fake._fail_next.pop(method, None)
                    if retry_after is not None:
                        fake.throttled.append(method)
                if retry_after is not None:
                    self._send(429, {"ok": False, "error": "ratelimited"},
                               {"Retry-After": str(retry_after)})
                    return
                token = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
                if not token.startswith("xoxb-"):
                    self._send(200, {"ok": False, "error": "not_authed"})
                    return
                fault = fake.faults.arrive(method, params)
                if fault is not None and (status := fault.before()) is not None:
                    self._send(status, {"ok": False, "error": "internal_error"})
                    fake.faults.answered(fault)
                    return
                with fake._lock:
                    answer = fake._answer(method, params)
                    if answer.get("ok", True):
                        fake.calls.append(Call(method, params))
                if fault is not None:
                    fault.after()
                self._send(200, {"ok": True, **answer})
                fake.faults.answered(fault)

        return Handler
