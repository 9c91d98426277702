"""The pager port over Telegram's Bot API: a page is a message from Firebell's bot to the person's
private chat with it, with an inline "Acknowledge" button (callback data `ack:<page id>`).

Every method is `POST {api_url}/bot{token}/{method}` with a JSON body; Telegram answers
`{"ok": true, "result": ...}` or `{"ok": false, "error_code", "description", "parameters":
{"retry_after"}}`. Errors become `ExternalServiceError`: retryable for 429 (after its
`retry_after`) and 5xx or a lost connection; any other error (a chat that blocked the bot, 403)
is final at once, so the page fails over to the person's next channel. The token is part of every
URL, so no message of ours ever names a URL.

The button's press comes back to `POST /telegram/webhook` (bot/telegram.py). Once the incident is
acknowledged or resolved, each message is edited to say so, without its button (`PageUpdates`).
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable, Iterable
from typing import Any

import httpx

from adapters.http import RetryPolicy, VendorError, retrying
from workflows.model import Incident, Page
from workflows.ports import ExternalServiceError, Message

log = logging.getLogger(__name__)

ChatOf = Callable[[str], "int | None"]
TEXT_LIMIT = 4096  # Telegram refuses a longer message text (after entities are parsed)
# Telegram's answer when an edit would not change the message: the message says so already.
NOT_MODIFIED = "message is not modified"


def ack_data(page: Page) -> str:
    """The callback data of a page's Acknowledge button (at most 64 bytes)."""
    return f"ack:{page.id}"


def page_html(message: Message) -> str:
    """The page's title in bold and its words, escaped for parse_mode HTML, cut to Telegram's
    limit (the visible text: the escapes count once parsed, so cutting the raw words is safe)."""
    title = f"{message.title}\n" if message.title else ""
    words = title + message.text.replace("*", "")
    if len(words) > TEXT_LIMIT:
        words = words[:TEXT_LIMIT - 3].rstrip() + "..."
    if message.title:
        head, _, rest = words.partition("\n")
        return f"<b>{html.escape(head, quote=False)}</b>\n{html.escape(rest, quote=False)}"
    return html.escape(words, quote=False)


def split_ref(ref: str) -> tuple[int, int] | None:
    """(chat id, message id) from a page's ref "<chat_id>:<message_id>"."""
    chat, _, message = ref.rpartition(":")
    try:
        return int(chat), int(message)
    except ValueError:
        return None


class TelegramPager:
    """`PagerPort` for the `telegram` channel, `PageUpdates` for its messages after the ack, and
    the answer to a button press (`answer_callback`) for the webhook."""

    channels: frozenset[str] = frozenset({"telegram"})

    def __init__(
        self,
        *,
        token: str,
        chat_of: ChatOf,
        api_url: str = "https://api.telegram.org",
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.chat_of = chat_of
        self.retry = retry or RetryPolicy()
        self._http = httpx.Client(base_url=f"{api_url.rstrip('/')}/bot{token}/", timeout=timeout)

    # PagerPort -------------------------------------------------------------
    def send_page(self, *, page: Page, incident: Incident, message: Message) -> str:
        chat = self.chat_of(page.person)
        if chat is None:
            raise ExternalServiceError(f"{page.person} has no telegram_chat_id", retryable=False)
        sent = self.call("sendMessage", {
            "chat_id": chat, "text": page_html(message), "parse_mode": "HTML",
            "reply_markup": {"inline_keyboard": [[
                {"text": "Acknowledge", "callback_data": ack_data(page)}]]},
        })
        return f"{sent['chat']['id']}:{sent['message_id']}"

    # PageUpdates -----------------------------------------------------------
    def acknowledged(self, pages: Iterable[Page], *, incident: Incident, text: str) -> None:
        """Edit each message of `pages` sent by this pager to `text`, without its button."""
        failed: list[ExternalServiceError] = []
        for page in pages:
            where = split_ref(page.ref) if page.channel in self.channels and page.ref else None
            if where is None:
                continue
            try:
                # No reply_markup: the inline keyboard goes, so no stale button stays.
                self.call("editMessageText", {
                    "chat_id": where[0], "message_id": where[1],
                    "text": html.escape(text.replace("*", ""), quote=False)[:TEXT_LIMIT],
                    "parse_mode": "HTML"})
            except ExternalServiceError as error:
                if NOT_MODIFIED not in str(error):  # edited already by an earlier attempt
                    failed.append(error)  # the others are still worth editing
        if failed:
            raise failed[0]

    # The webhook's answer to a button press ----------------------------------
    def answer_callback(self, *, query_id: str, text: str) -> None:
        """Show `text` to the person who pressed the button (answerCallbackQuery)."""
        self.call("answerCallbackQuery", {"callback_query_id": query_id, "text": text[:200]})

    # helpers ---------------------------------------------------------------
    def call(self, method: str, body: dict[str, Any]) -> Any:
        """One Bot API method; its `result`. Raises ExternalServiceError."""
        return retrying(self.retry, lambda: self._once(method, body), what=f"Telegram {method}")

    def _once(self, method: str, body: dict[str, Any]) -> Any:
        try:
            response = self._http.post(method, json=body)
        except httpx.HTTPError as error:
            # Not `error` itself in the message: its request's URL holds the token.
            raise VendorError(f"Telegram {method} failed: {type(error).__name__}",
                              retryable=True) from None
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if isinstance(answer, dict) and answer.get("ok") is True:
            return answer.get("result")
        if not isinstance(answer, dict):
            answer = {}
        code = answer.get("error_code") or response.status_code
        parameters = answer.get("parameters")
        after = parameters.get("retry_after") if isinstance(parameters, dict) else None
        description = str(answer.get("description") or response.text[:200] or "no answer")
        raise VendorError(
            f"Telegram {method} answered {code}: {description}",
            retryable=code == 429 or (isinstance(code, int) and code >= 500),
            retry_after=float(after) if isinstance(after, int | float) else None)

    def close(self) -> None:
        self._http.close()
