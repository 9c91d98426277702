"""A fake of Pushover's Message and Receipts APIs on loopback, speaking their wire format, plus
the Pushover app's side: a person acknowledging an emergency notification.

- `POST /1/messages.json` (form: token, user, message, title, priority -2..2, retry >= 30 and
  expire <= 10800 for priority 2, callback, url, url_title ...): `{"status": 1, "request": ...}`,
  with a 30-character `receipt` for priority 2; errors are HTTP 400 with `{"status": 0,
  "errors": [...], "request": ...}` (an unknown token or user key, a missing retry/expire).
- `GET /1/receipts/{receipt}.json?token=`: acknowledged, acknowledged_at, acknowledged_by,
  acknowledged_by_device, last_delivered_at, expired, expires_at, called_back, called_back_at.
- `POST /1/receipts/{receipt}/cancel.json` (form: token): stops the retries.

`acknowledge(sent)` is the person pressing "Acknowledge" in the app: the receipt says so and,
with a `callback` URL, Pushover POSTs it (receipt, acknowledged=1, acknowledged_at,
acknowledged_by, acknowledged_by_device); the answer is returned.
"""

from __future__ import annotations

import re
import secrets
import string
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from tests.support.loopback import JsonHandler, LoopbackFake

APP_TOKEN = "azGDORePK8gMaC0QOYAMyEEuzJnyUi"
_ALNUM = string.ascii_letters + string.digits


def _key(n: int = 30) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(n))


@dataclass
class Sent:
    form: dict[str, str]
    request: str = field(default_factory=lambda: str(secrets.token_hex(16)))
    receipt: str | None = None
    acknowledged_at: int = 0
    acknowledged_by: str = ""
    cancelled: bool = False
    called_back_at: int = 0
    at: int = field(default_factory=lambda: int(time.time()))

    @property
    def user(self) -> str:
        return self.form["user"]

    @property
    def priority(self) -> int:
        return int(self.form.get("priority", "0"))


class FakePushover(LoopbackFake):
    def __init__(self, *, token: str = APP_TOKEN, users: tuple[str, ...] = ()) -> None:
        self.token = token
        self.users = set(users)  # known user keys; a message to another is refused
        self.sent: list[Sent] = []
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self._fail: list[int] = []
        super().__init__()

    def fail_next(self, *statuses: int) -> None:
        with self.lock:
            self._fail.extend(statuses)

    def messages(self, user: str | None = None) -> list[Sent]:
        with self.lock:
            return [s for s in self.sent if user is None or s.user == user]

    def acknowledge(self, sent: Sent, *, device: str = "pixel") -> httpx.Response | None:
        """The person acknowledges the emergency notification in the Pushover app."""
        assert sent.receipt is not None, "only emergency (priority 2) notifications are acknowledged"
        with self.lock:
            sent.acknowledged_at, sent.acknowledged_by = int(time.time()), sent.user
        callback = sent.form.get("callback")
        if not callback:
            return None
        answer = httpx.post(callback, timeout=15, data={
            "receipt": sent.receipt, "acknowledged": "1",
            "acknowledged_at": str(sent.acknowledged_at), "acknowledged_by": sent.user,
            "acknowledged_by_device": device,
        })
        with self.lock:
            sent.called_back_at = int(time.time())
        return answer

    def _by_receipt(self, receipt: str) -> Sent | None:
        return next((s for s in self.sent if s.receipt == receipt), None)

    def _message(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        request = secrets.token_hex(16)
        errors = []
        if form.get("token") != self.token:
            errors.append("application token is invalid")
        if self.users and form.get("user") not in self.users:
            errors.append("user identifier is not a valid user, group, or subscribed user key")
        if not form.get("message"):
            errors.append("message cannot be blank")
        if len(form.get("title", "")) > 250 or len(form.get("message", "")) > 1024:
            errors.append("message or title is too long")
        priority = int(form.get("priority", "0"))
        if priority == 2:
            if int(form.get("retry") or 0) < 30:
                errors.append("retry is invalid")
            if not 0 < int(form.get("expire") or 0) <= 10800:
                errors.append("expire is invalid")
        if errors:
            return 400, {"status": 0, "errors": errors, "request": request}
        sent = Sent(dict(form), request=request, receipt=_key() if priority == 2 else None)
        self.sent.append(sent)
        body: dict[str, Any] = {"status": 1, "request": request}
        if sent.receipt:
            body["receipt"] = sent.receipt
        return 200, body

    def _receipt(self, sent: Sent) -> dict[str, Any]:
        expires = sent.at + int(sent.form.get("expire") or 0)
        return {
            "status": 1, "request": secrets.token_hex(16),
            "acknowledged": int(bool(sent.acknowledged_at)), "acknowledged_at": sent.acknowledged_at,
            "acknowledged_by": sent.acknowledged_by,
            "acknowledged_by_device": "pixel" if sent.acknowledged_at else "",
            "last_delivered_at": sent.at, "expired": int(time.time() >= expires or sent.cancelled),
            "expires_at": expires, "called_back": int(bool(sent.called_back_at)),
            "called_back_at": sent.called_back_at,
        }

    def _handler(self) -> type[JsonHandler]:
        fake = self

        class Handler(JsonHandler):
            def _failing(self, method: str, form: dict[str, str]) -> bool:
                with fake.lock:
                    fake.requests.append((method, urlsplit(self.path).path, form))
                    status = fake._fail.pop(0) if fake._fail else None
                if status is None:
                    return False
                self.send_json(status, {"status": 0, "errors": ["injected failure"]})
                return True

            def do_POST(self) -> None:  # noqa: N802
                body = self.read_body().decode()
                form = dict(parse_qsl(body, keep_blank_values=True))
                if self._failing("POST", form):
                    return
                path = urlsplit(self.path).path
                with fake.lock:
                    if path == "/1/messages.json":
                        self.send_json(*fake._message(form))
                        return
                    cancel = re.fullmatch(r"/1/receipts/([A-Za-z0-9]+)/cancel\.json", path)
                    sent = fake._by_receipt(cancel.group(1)) if cancel else None
                    if sent is None or form.get("token") != fake.token:
                        self.send_json(404 if sent is None else 400, {
                            "status": 0, "errors": ["receipt not found; may be invalid or expired"]})
                        return
                    sent.cancelled = True
                self.send_json(200, {"status": 1, "request": secrets.token_hex(16)})

            def do_GET(self) -> None:  # noqa: N802
                parts = urlsplit(self.path)
                query = dict(parse_qsl(parts.query))
                if self._failing("GET", query):
                    return
                match = re.fullmatch(r"/1/receipts/([A-Za-z0-9]+)\.json", parts.path)
                with fake.lock:
                    sent = fake._by_receipt(match.group(1)) if match else None
                    if sent is None or query.get("token") != fake.token:
                        self.send_json(404, {"status": 0, "errors": [
                            "receipt not found; may be invalid or expired"]})
                        return
                    self.send_json(200, fake._receipt(sent))

        return Handler
