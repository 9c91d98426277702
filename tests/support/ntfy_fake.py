"""A fake ntfy server on loopback, speaking ntfy's publish API, plus the ntfy app's side of an
action button.

Publish: `POST /{topic}` (or PUT), the body is the message, options in headers (`Title`,
`Priority` 1-5 or min/low/default/high/urgent/max, `Tags` comma-separated, `Click`, `Actions` in
the short format `<action>, <label>, <url>[, key=value...]` separated by `;`), `X-`-prefixed
aliases too, and RFC 2047 `=?UTF-8?B?...?=` values decoded. Answers the message as JSON (`id`,
`time`, `expires`, `event: "message"`, `topic`, `message`, `title`, `priority`, `tags`, `click`,
`actions`) or an error `{"code", "http", "error", "link"}`. With `token` set it wants
`Authorization: Bearer <token>` (else 401/40101, as ntfy answers with auth on and no access).

`press(message, "Acknowledge")` does what the app does when the person presses an http action:
sends its request (method, headers, body) to its URL, and returns the answer.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.header import decode_header, make_header
from typing import Any

import httpx

from tests.support.loopback import JsonHandler, LoopbackFake

_PRIORITIES = {"min": 1, "low": 2, "default": 3, "high": 4, "urgent": 5, "max": 5}
_TOPIC = re.compile(r"/([-_A-Za-z0-9]{1,64})")


@dataclass
class Published:
    topic: str
    message: str
    title: str | None
    priority: int
    tags: list[str]
    click: str | None
    actions: list[dict[str, Any]]
    headers: dict[str, str]
    id: str = field(default_factory=lambda: secrets.token_urlsafe(9)[:12])
    time: int = field(default_factory=lambda: int(time.time()))

    def json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.id, "time": self.time, "expires": self.time + 43200,
                                "event": "message", "topic": self.topic, "message": self.message,
                                "priority": self.priority}
        body.update({k: v for k, v in (("title", self.title), ("tags", self.tags or None),
                                       ("click", self.click), ("actions", self.actions or None))
                     if v})
        return body


def parse_actions(value: str) -> list[dict[str, Any]]:
    """ntfy's short action format: `http, Label, https://url, method=POST, clear=true; view, ...`"""
    actions = []
    for spec in (s.strip() for s in value.split(";") if s.strip()):
        parts = [p.strip() for p in spec.split(",")]
        action: dict[str, Any] = {"action": parts[0], "label": parts[1]}
        options = parts[2:]
        if parts[0] in ("view", "http"):  # their third field is the URL
            action["url"], options = parts[2], parts[3:]
        for option in options:
            key, _, val = option.partition("=")
            action[key.strip()] = val == "true" if val in ("true", "false") else val
        if action["action"] == "http":
            action.setdefault("method", "POST")
        actions.append(action)
    return actions


class FakeNtfy(LoopbackFake):
    def __init__(self, *, token: str | None = None) -> None:
        self.token = token
        self.published: list[Published] = []
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.down = False  # every publish answers 503 (ntfy behind a proxy that lost it)
        self._fail: list[int] = []
        super().__init__()

    def fail_next(self, *statuses: int) -> None:
        with self.lock:
            self._fail.extend(statuses)

    def messages(self, topic: str | None = None) -> list[Published]:
        with self.lock:
            return [m for m in self.published if topic is None or m.topic == topic]

    def press(self, message: Published, label: str) -> httpx.Response:
        """The person presses the action button `label`: the app sends its HTTP request."""
        [action] = [a for a in message.actions if a["label"] == label]
        assert action["action"] == "http", action
        headers = {k.removeprefix("headers."): v for k, v in action.items()
                   if k.startswith("headers.")}
        return httpx.request(action.get("method", "POST"), action["url"],
                             content=action.get("body", ""), headers=headers, timeout=15)

    def _publish(self, topic: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        def option(*names: str) -> str | None:
            for name in names:
                for candidate in (name, f"x-{name}"):
                    if candidate in headers:
                        return str(make_header(decode_header(headers[candidate])))
            return None

        if self.token is not None and headers.get("authorization") != f"Bearer {self.token}":
            return 401, {"code": 40101, "http": 401, "error": "unauthorized",
                         "link": "https://ntfy.sh/docs/publish/#authentication"}
        raw_priority = (option("priority", "prio", "p") or "3").lower()
        priority = _PRIORITIES.get(raw_priority) or (int(raw_priority)
                                                     if raw_priority.isdigit() else 0)
        if not 1 <= priority <= 5:
            return 400, {"code": 40007, "http": 400, "error": "invalid priority"}
        actions = option("actions", "action")
        message = Published(
            topic=topic, message=body.decode(), title=option("title", "t"), priority=priority,
            tags=[t.strip() for t in (option("tags", "tag", "ta") or "").split(",") if t.strip()],
            click=option("click"), actions=parse_actions(actions) if actions else [],
            headers=dict(headers),
        )
        with self.lock:
            self.published.append(message)
        return 200, message.json()

    def _handler(self) -> type[JsonHandler]:
        fake = self

        class Handler(JsonHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.read_body()
                headers = {k.lower(): v for k, v in self.headers.items()}
                with fake.lock:
                    fake.requests.append(("POST", self.path, headers))
                    failing = fake._fail.pop(0) if fake._fail else (503 if fake.down else None)
                if failing is not None:
                    self.send_json(failing, {"code": failing * 100, "http": failing,
                                             "error": "injected failure"})
                    return
                match = _TOPIC.fullmatch(self.path.split("?")[0])
                if match is None:
                    self.send_json(404, {"code": 40401, "http": 404, "error": "page not found"})
                    return
                self.send_json(*fake._publish(match.group(1), body, headers))

            do_PUT = do_POST  # noqa: N815

        return Handler


def wait_for(predicate: Callable[[], Any], *, timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("timed out waiting")
