"""A fake of Twilio's REST API on loopback, speaking its wire format, plus Twilio's side of the
callbacks (signed the way Twilio signs them).

Paths: `POST /2010-04-01/Accounts/{sid}/Messages.json` (form To, From, Body, StatusCallback) and
`.../Calls.json` (To, From, Twiml or Url, StatusCallback), `GET` of both to list. HTTP Basic auth
with the account SID and auth token. Answers are JSON shaped like Twilio's (`sid`, `status`,
`date_created` ...); errors are `{"code", "message", "more_info", "status"}`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import httpx

from tests.support.fake_faults import Arrival, Fault, FaultPlan, Where

ACCOUNT_SID = "AC" + "f1" * 16
AUTH_TOKEN = "firebell-test-twilio-token"
FROM_NUMBER = "+15550109999"


def twilio_signature(url: str, params: dict[str, str], *, token: str = AUTH_TOKEN) -> str:
    """Twilio's request signature: base64(HMAC-SHA1(token, url + each key and value, sorted))."""
    data = url + "".join(f"{key}{params[key]}" for key in sorted(params))
    digest = hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def signed_post(url: str, params: dict[str, str], *, token: str = AUTH_TOKEN,
                signature: str | None = None) -> httpx.Response:
    """POST a form the way Twilio does, signed (or with the signature given)."""
    sig = twilio_signature(url, params, token=token) if signature is None else signature
    headers = {"X-Twilio-Signature": sig} if sig else {}
    return httpx.post(url, data=params, headers=headers, timeout=10)


@dataclass
class Sent:
    """One message or call Twilio accepted."""

    kind: str  # "sms" | "voice"
    sid: str
    to: str
    from_: str
    body: str  # the SMS text, or the call's TwiML
    status_callback: str | None
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    status: str = "queued"

    @property
    def page(self) -> int | None:
        """The Firebell page id in the status callback URL."""
        if not self.status_callback:
            return None
        values = parse_qs(urlsplit(self.status_callback).query).get("page")
        return int(values[0]) if values else None

    def json(self) -> dict[str, Any]:
        date = format_datetime(self.created, usegmt=True)
        common = {
            "sid": self.sid, "account_sid": ACCOUNT_SID, "to": self.to, "from": self.from_,
            "status": self.status, "date_created": date, "date_updated": date,
            "api_version": "2010-04-01", "price": None, "price_unit": "USD",
        }
        if self.kind == "sms":
            return {**common, "body": self.body, "direction": "outbound-api", "num_segments": "1",
                    "date_sent": None, "error_code": None, "error_message": None,
                    "messaging_service_sid": None,
                    "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{self.sid}.json"}
        return {**common, "direction": "outbound-api", "start_time": None, "end_time": None,
                "duration": None, "parent_call_sid": None,
                "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{self.sid}.json"}


class FakeTwilio:
    def __init__(self, *, token: str = AUTH_TOKEN) -> None:
        self.token = token
        self.sent: list[Sent] = []
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # (method, path, form)
        self.invalid_numbers: set[str] = set()  # answered 400, code 21211
        self.undeliverable: set[str] = set()  # accepted, then reported "undelivered"/"failed"
        self.callbacks: list[tuple[str, int]] = []  # (url, status code Firebell answered)
        self.latency = 0.0  # seconds before a POST is answered (it is accepted all the same)
        self._failures: list[int] = []  # statuses to answer the next POSTs with (429, 500 ...)
        self.accept_then_fail = 0  # the next POSTs are accepted, but answered 500 all the same
        # Delays, hangs, failures of any call, and every call's arrival. Calls are named
        # "sms", "voice" (POST) and "sms.list", "voice.list" (GET); parameters are the form
        # fields (POST) or the query (GET).
        self.faults = FaultPlan()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # lifecycle -----------------------------------------------------------------
    def start(self) -> FakeTwilio:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.faults.release_all()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeTwilio:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # behaviour -------------------------------------------------------------------
    def fail_next(self, *statuses: int) -> None:
        """Answer the next POSTs with these statuses (e.g. 429, 500, 503), then accept again."""
        with self._lock:
            self._failures.extend(statuses)

    def inject(self, name: str, *, where: Where | None = None, **options: Any) -> Fault:
        """Delay, hang, fail or accept-then-time-out calls named `name` ("sms", "voice",
        "sms.list", "voice.list"); see `fake_faults`. `equals={"To": ...}` narrows it down."""
        return self.faults.add(Fault(name, where=where, **options))

    def wait_arrival(self, name: str, *, count: int = 1, timeout: float = 10.0,
                     where: Where | None = None, **equals: Any) -> list[Arrival]:
        """Wait until `count` calls named `name` with these fields reached the fake (before it
        acted on them, delayed or hung them)."""
        return self.faults.wait_arrival(name, where=where, count=count, timeout=timeout,
                                        **equals)

    def messages(self, to: str | None = None) -> list[Sent]:
        return [s for s in list(self.sent) if s.kind == "sms" and to in (None, s.to)]

    def calls(self, to: str | None = None) -> list[Sent]:
        return [s for s in list(self.sent) if s.kind == "voice" and to in (None, s.to)]

    def wait_for(self, predicate: Callable[[], object], *, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; sent so far: {[(s.kind, s.to) for s in self.sent]}")
            time.sleep(0.02)

    def report(self, sent: Sent, status: str, *, error_code: str | None = None) -> int:
        """Post a signed status callback for `sent`, as Twilio does; returns Firebell's status."""
        assert sent.status_callback, "no StatusCallback was given"
        sent.status = status
        params = {"AccountSid": ACCOUNT_SID, "From": sent.from_, "To": sent.to,
                  "ApiVersion": "2010-04-01"}
        if sent.kind == "sms":
            params |= {"MessageSid": sent.sid, "SmsSid": sent.sid, "MessageStatus": status,
                       "SmsStatus": status}
        else:
            params |= {"CallSid": sent.sid, "CallStatus": status, "Direction": "outbound-api"}
        if error_code:
            params["ErrorCode"] = error_code
        try:
            answer = signed_post(sent.status_callback, params, token=self.token).status_code
        except httpx.TransportError:
            answer = -1  # Firebell is down (killed in a fault test): Twilio gives up too
        self.callbacks.append((sent.status_callback, answer))
        return answer

    # HTTP -----------------------------------------------------------------------
    def _accept(self, kind: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        to = form.get("To", "")
        if to in self.invalid_numbers:
            return 400, {"code": 21211, "status": 400,
                         "message": f"The 'To' number {to} is not a valid phone number.",
                         "more_info": "https://www.twilio.com/docs/errors/21211"}
        missing = [k for k in ("To", "From") if not form.get(k)]
        body = form.get("Body") if kind == "sms" else form.get("Twiml") or form.get("Url")
        if missing or not body:
            return 400, {"code": 21603 if "From" in missing else 21604, "status": 400,
                         "message": f"missing {missing or ['Body/Twiml']}", "more_info": ""}
        prefix = "SM" if kind == "sms" else "CA"
        sent = Sent(kind, prefix + uuid.uuid4().hex, to, form["From"], body,
                    form.get("StatusCallback"))
        with self._lock:
            self.sent.append(sent)
        if to in self.undeliverable:
            # Twilio reports asynchronously, a moment after it answered the request.
            status, code = ("undelivered", "30003") if kind == "sms" else ("failed", None)
            threading.Timer(0.2, self.report, args=(sent, status), kwargs={"error_code": code}).start()
        return 201, sent.json()

    def _list(self, kind: str, query: dict[str, str]) -> dict[str, Any]:
        found = [s for s in list(self.sent) if s.kind == kind
                 and query.get("To", s.to) == s.to and query.get("From", s.from_) == s.from_]
        key = "messages" if kind == "sms" else "calls"
        return {key: [s.json() for s in reversed(found)], "page": 0, "page_size": 200,
                "start": 0, "end": len(found), "first_page_uri": "", "next_page_uri": None,
                "previous_page_uri": None, "uri": ""}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self
        expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{fake.token}".encode()).decode()
        prefix = f"/2010-04-01/Accounts/{ACCOUNT_SID}/"

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timed out, or was killed) before the answer

            def _route(self) -> str | None:
                path = urlsplit(self.path).path
                if self.headers.get("Authorization") != expected:
                    self._answer(401, {"code": 20003, "status": 401, "message": "Authenticate"})
                    return None
                kind = {f"{prefix}Messages.json": "sms", f"{prefix}Calls.json": "voice"}.get(path)
                if kind is None:
                    self._answer(404, {"code": 20404, "status": 404, "message": "not found"})
                return kind

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", "0"))
                form = dict(parse_qsl(self.rfile.read(length).decode()))
                fake.requests.append(("POST", urlsplit(self.path).path, form))
                kind = self._route()
                if kind is None:
                    return
                with fake._lock:
                    failure = fake._failures.pop(0) if fake._failures else None
                if fake.latency:
                    time.sleep(fake.latency)
                if failure is not None:
                    self._answer(failure, {"code": 20429 if failure == 429 else 20500,
                                           "status": failure, "message": "try again later"})
                    return
                fault = fake.faults.arrive(kind, form)
                if fault is not None and (status := fault.before()) is not None:
                    self._answer(status, {"code": 20500, "status": status,
                                          "message": "service unavailable"})
                    fake.faults.answered(fault)
                    return
                answer = fake._accept(kind, form)
                if fault is not None:
                    fault.after()
                with fake._lock:
                    lost = fake.accept_then_fail > 0
                    fake.accept_then_fail -= 1 if lost else 0
                if lost:  # Twilio took it; its answer got lost on the way
                    self._answer(500, {"code": 20500, "status": 500, "message": "internal error"})
                    return
                self._answer(*answer)
                fake.faults.answered(fault)

            def do_GET(self) -> None:  # noqa: N802
                query = dict(parse_qsl(urlsplit(self.path).query))
                fake.requests.append(("GET", urlsplit(self.path).path, query))
                kind = self._route()
                if kind is None:
                    return
                fault = fake.faults.arrive(f"{kind}.list", query)
                if fault is not None and (status := fault.before()) is not None:
                    self._answer(status, {"code": 20500, "status": status,
                                          "message": "service unavailable"})
                    fake.faults.answered(fault)
                    return
                found = fake._list(kind, query)
                if fault is not None:
                    fault.after()
                self._answer(200, found)
                fake.faults.answered(fault)

        return Handler


def callback_query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))
