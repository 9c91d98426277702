"""A fake of Telegram's Bot API on loopback, speaking its wire format, plus Telegram's side of the
webhook (an update POSTed with the `X-Telegram-Bot-Api-Secret-Token` header).

Paths: `POST /bot{token}/{method}` with a JSON body, for sendMessage, editMessageText and
answerCallbackQuery. Answers are `{"ok": true, "result": ...}` or `{"ok": false, "error_code",
"description", "parameters": {"retry_after"}}`, with the HTTP status of the error code, as
Telegram answers. A wrong token is 401 "Unauthorized", an unknown method 404 "Not Found".
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.support.loopback import JsonHandler, LoopbackFake

BOT_TOKEN = "123456:firebell-test-telegram-token"
WEBHOOK_SECRET = "firebell-test-telegram-secret"
BOT_ID = 123456


@dataclass
class Sent:
    """One message the bot sent, as it stands now (edits change it)."""

    chat_id: int
    message_id: int
    text: str
    parse_mode: str | None
    reply_markup: dict[str, Any] | None
    edits: int = 0

    @property
    def button_data(self) -> list[str]:
        rows = (self.reply_markup or {}).get("inline_keyboard") or []
        return [button.get("callback_data", "") for row in rows for button in row]

    def json(self) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": self.message_id, "date": int(time.time()), "text": self.text,
            "from": {"id": BOT_ID, "is_bot": True, "first_name": "Firebell"},
            "chat": {"id": self.chat_id, "type": "private" if self.chat_id > 0 else "group"},
        }
        if self.reply_markup:
            message["reply_markup"] = self.reply_markup
        return message


@dataclass
class Failure:
    """The next calls of `method` (any method when None) answer this error."""

    code: int
    description: str
    method: str | None = None
    retry_after: int | None = None
    times: int = 1


@dataclass
class FakeTelegram(LoopbackFake):
    token: str = BOT_TOKEN
    sent: list[Sent] = field(default_factory=list)
    answers: list[dict[str, Any]] = field(default_factory=list)  # answerCallbackQuery bodies
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # every method call
    failures: list[Failure] = field(default_factory=list)
    blocked: set[int] = field(default_factory=set)  # chats that blocked the bot (403)

    def __post_init__(self) -> None:
        self._ids = itertools.count(100)
        self._queries = itertools.count(1)
        super().__init__()

    @property
    def api_url(self) -> str:
        return self.url

    def messages(self, chat_id: int) -> list[Sent]:
        with self.lock:
            return [m for m in self.sent if m.chat_id == chat_id]

    # Telegram's side of the webhook ----------------------------------------------------------
    def press(self, webhook_url: str, message: Sent, *, user_id: int, data: str | None = None,
              secret: str | None = WEBHOOK_SECRET) -> httpx.Response:
        """Deliver the update of `user_id` pressing the message's first button (or `data`),
        with the secret-token header (none when `secret` is None)."""
        query_id = str(next(self._queries))
        update = {"update_id": int(query_id) + 5000, "callback_query": {
            "id": query_id, "chat_instance": "-42",
            "from": {"id": user_id, "is_bot": False, "first_name": f"user{user_id}"},
            "message": message.json(), "data": data if data is not None else message.button_data[0],
        }}
        return self.deliver(webhook_url, update, secret=secret)

    def deliver(self, webhook_url: str, update: dict[str, Any], *,
                secret: str | None = WEBHOOK_SECRET) -> httpx.Response:
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        return httpx.post(webhook_url, content=json.dumps(update), headers=headers, timeout=15)

    # the Bot API ---------------------------------------------------------------------------
    def _call(self, method: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.calls.append((method, body))
            for failure in self.failures:
                if failure.times > 0 and failure.method in (None, method):
                    failure.times -= 1
                    return _error(failure.code, failure.description, failure.retry_after)
            if method == "sendMessage":
                return self._send(body)
            if method == "editMessageText":
                return self._edit(body)
            if method == "answerCallbackQuery":
                if not body.get("callback_query_id"):
                    return _error(400, "Bad Request: query is too old and response timeout "
                                       "expired or query ID is invalid")
                self.answers.append(body)
                return 200, {"ok": True, "result": True}
        return _error(404, "Not Found")

    def _send(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        chat, text = body.get("chat_id"), body.get("text")
        if not isinstance(chat, int) or not isinstance(text, str) or not text:
            return _error(400, "Bad Request: chat_id and text are required")
        if chat in self.blocked:
            return _error(403, "Forbidden: bot was blocked by the user")
        if len(text) > 4096 + 2000:  # markup counts once parsed; far past it is surely too long
            return _error(400, "Bad Request: message is too long")
        if body.get("parse_mode") == "HTML" and not _balanced(text):
            return _error(400, "Bad Request: can't parse entities: unsupported start tag")
        message = Sent(chat, next(self._ids), text, body.get("parse_mode"),
                       body.get("reply_markup"))
        self.sent.append(message)
        return 200, {"ok": True, "result": message.json()}

    def _edit(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        found = [m for m in self.sent if (m.chat_id, m.message_id)
                 == (body.get("chat_id"), body.get("message_id"))]
        if not found:
            return _error(400, "Bad Request: message to edit not found")
        message = found[0]
        markup = body.get("reply_markup")
        if body.get("text") == message.text and markup == message.reply_markup:
            return _error(400, "Bad Request: message is not modified: specified new message "
                               "content and reply markup are exactly the same")
        message.text, message.reply_markup = body.get("text", ""), markup
        message.parse_mode = body.get("parse_mode")
        message.edits += 1
        return 200, {"ok": True, "result": message.json()}

    def _handler(self) -> type[JsonHandler]:
        fake = self

        class Handler(JsonHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                prefix, _, method = self.path.lstrip("/").partition("/")
                try:
                    body = self.read_json({})
                except ValueError:
                    body = None
                if prefix != f"bot{fake.token}":
                    status, answer = _error(401, "Unauthorized")
                else:
                    status, answer = (fake._call(method, body) if isinstance(body, dict)
                                      else _error(400, "Bad Request: invalid JSON"))
                self.send_json(status, answer)

        return Handler


def _error(code: int, description: str, retry_after: int | None = None
           ) -> tuple[int, dict[str, Any]]:
    answer: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if retry_after is not None:
        answer["parameters"] = {"retry_after": retry_after}
    return code, answer


def _balanced(text: str) -> bool:
    """Telegram's HTML mode accepts only its tags and escaped `<`, `>`, `&`: a raw `<` that does
    not open one of them is refused."""
    allowed = ("b>", "/b>", "i>", "/i>", "code>", "/code>", "pre>", "/pre>", "a href=", "/a>")
    index = text.find("<")
    while index != -1:
        if not text.startswith(allowed, index + 1):
            return False
        index = text.find("<", index + 1)
    return True
