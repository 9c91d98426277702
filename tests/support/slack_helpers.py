"""Run the real HTTP server against the fake Slack, and send it correctly signed requests."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from itertools import count
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import uvicorn

from tests.support.paths import DEMO_CATALOG
from tests.support.slack_fake import TEAM, FakeSlack

SIGNING_SECRET = "firebell-test-signing-secret"
BOT_TOKEN = "xoxb-firebell-test"
API_TOKEN = "test-api-token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def signature_headers(body: str, *, secret: str = SIGNING_SECRET,
                      timestamp: int | None = None) -> dict[str, str]:
    """Slack's request signature: v0=HMAC-SHA256(secret, "v0:{timestamp}:{body}")."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


class ThreadedServer:
    """An ASGI app under uvicorn in a background thread, on a free loopback port."""

    def __init__(self, app: Any, *, port: int | None = None) -> None:
        self.port = port or free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


class SlackSender:
    """Sends what Slack sends: slash commands, interactivity payloads, Events API callbacks."""

    def __init__(self, base_url: str, fake: FakeSlack, *, secret: str = SIGNING_SECRET) -> None:
        self.url = f"{base_url}/slack/events"
        self.fake = fake
        self.secret = secret
        self.http = httpx.Client(timeout=10)
        self._ids = count(1)
        self.last: tuple[str, dict[str, str]] = ("", {})

    def close(self) -> None:
        self.http.close()

    def post(self, body: str, content_type: str, *, headers: dict[str, str] | None = None,
             timestamp: int | None = None, secret: str | None = None) -> httpx.Response:
        signed = signature_headers(body, secret=secret or self.secret, timestamp=timestamp)
        self.last = (body, {"Content-Type": content_type, **signed, **(headers or {})})
        return self.http.post(self.url, content=body.encode(), headers=self.last[1])

    def replay(self, *, headers: dict[str, str] | None = None) -> httpx.Response:
        """The last request again, byte for byte with its signature: what a replay is."""
        body, sent = self.last
        return httpx.post(self.url, content=body.encode(), headers={**sent, **(headers or {})},
                          timeout=10)

    def command(self, command: str, text: str = "", *, user: str = "U0ALICE",
                channel: str = "C0GENERAL", **kwargs: Any) -> tuple[httpx.Response, str]:
        """A slash command; returns the HTTP response and the key of its response_url."""
        key, response_url = self.fake.response_url()
        body = urlencode({
            "token": "legacy", "team_id": TEAM, "team_domain": "firebell-test",
            "channel_id": channel, "channel_name": "general", "user_id": user,
            "user_name": user.lower(), "command": command, "text": text,
            "api_app_id": "A0FIREBELL", "is_enterprise_install": "false",
            "response_url": response_url, "trigger_id": f"trigger.{next(self._ids)}",
        })
        return self.post(body, "application/x-www-form-urlencoded", **kwargs), key

    def interactive(self, payload: dict[str, Any], **kwargs: Any) -> httpx.Response:
        body = urlencode({"payload": json.dumps(payload)})
        return self.post(body, "application/x-www-form-urlencoded", **kwargs)

    def button(self, action: str, value: str, *, user: str, channel: str) -> tuple[httpx.Response, str]:
        key, response_url = self.fake.response_url()
        payload = {
            "type": "block_actions", "team": {"id": TEAM}, "user": {"id": user},
            "api_app_id": "A0FIREBELL", "trigger_id": f"trigger.{next(self._ids)}",
            "container": {"type": "message", "channel_id": channel, "message_ts": "1.000100"},
            "channel": {"id": channel}, "response_url": response_url,
            "actions": [{"type": "button", "action_id": f"firebell_{action}", "value": value,
                         "block_id": "b1", "action_ts": f"{time.time():.6f}"}],
        }
        return self.interactive(payload), key

    def view_submission(self, view: dict[str, Any], values: dict[str, Any], *,
                        user: str) -> httpx.Response:
        payload = {
            "type": "view_submission", "team": {"id": TEAM}, "user": {"id": user},
            "api_app_id": "A0FIREBELL", "trigger_id": f"trigger.{next(self._ids)}",
            "view": {"type": "modal", "id": "V0FIREBELL", **view, "state": {"values": values}},
        }
        return self.interactive(payload)

    def event(self, event: dict[str, Any], *, event_id: str, retry: int | None = None,
              **kwargs: Any) -> httpx.Response:
        body = json.dumps({
            "token": "legacy", "team_id": TEAM, "api_app_id": "A0FIREBELL",
            "type": "event_callback", "event_id": event_id, "event_time": int(time.time()),
            "event": event,
            "authorizations": [{"team_id": TEAM, "user_id": "U0FIREBELL", "is_bot": True}],
        })
        headers = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"} \
            if retry else {}
        return self.post(body, "application/json", headers=headers, **kwargs)


def modal_values(*, title: str, service: str, severity: str = "critical", urgency: str = "high",
                 environment: str = "production", description: str = "",
                 flags: tuple[str, ...] = ()) -> dict[str, Any]:
    """`view.state.values` as Slack sends it for the declaration modal."""
    def select(value: str) -> dict[str, Any]:
        return {"value": {"type": "static_select",
                          "selected_option": {"text": {"type": "plain_text", "text": value},
                                              "value": value}}}

    return {
        "title": {"value": {"type": "plain_text_input", "value": title}},
        "service": select(service), "severity": select(severity), "urgency": select(urgency),
        "environment": select(environment),
        "description": {"value": {"type": "plain_text_input", "value": description or None}},
        "flags": {"value": {"type": "checkboxes", "selected_options": [
            {"text": {"type": "plain_text", "text": f}, "value": f} for f in flags]}},
    }


class Harness:
    """Firebell built by `app.build` (SQLite file, demo catalog, fake clock) serving real HTTP,
    with Slack's Web API pointed at a `FakeSlack`."""

    def __init__(self, tmp_path: Path, *, clock: Any, catalog: Path = DEMO_CATALOG,
                 database_url: str | None = None, **settings: Any) -> None:
        from app import Settings, build
        from bot.server import build_http_app

        self.fake = FakeSlack().start()
        self.settings = Settings(
            firebell_config=str(catalog),
            database_url=database_url or f"sqlite:///{tmp_path / 'firebell.db'}",
            slack_bot_token=BOT_TOKEN, slack_signing_secret=SIGNING_SECRET,
            slack_api_url=self.fake.api_url, firebell_api_token=API_TOKEN, **settings,
        )
        self.clock = clock
        self.firebell = build(self.settings, clock=clock)
        self.firebell.dispatcher.start()  # effects are performed as in `serve`, by the dispatcher
        self.server = ThreadedServer(build_http_app(self.firebell)).start()
        self.slack = SlackSender(self.server.url, self.fake)

    def close(self) -> None:
        self.slack.close()
        self.server.stop()
        self.firebell.dispatcher.stop(grace=2)
        self.fake.stop()
        self.firebell.store.dispose()

    def incidents(self) -> list[Any]:
        with self.firebell.store.transaction() as tx:
            return list(tx.list_incidents(open_only=False))

    def events(self, incident_id: int, kind: str | None = None) -> list[Any]:
        with self.firebell.store.transaction() as tx:
            return [e for e in tx.events(incident_id) if kind is None or e.kind == kind]
