"""Firebell's log: one line per record, whatever a request put in it.

Anything a stranger sends can reach a log message (a path, a header, a Slack user's text), so
every record is written as one line: control characters are escaped (a newline becomes `\\n`
and cannot start a forged record) and a message stops after MAX_MESSAGE characters. A traceback
keeps its lines, each indented, so none of them reads as a record of its own.

Bolt logs request bodies below WARNING (a request that failed its signature check, the body of a
request whose listener failed): those records are dropped; its warnings that quote a body (an
unhandled request) are written without it. A body is never logged.

`LOG_FORMAT=json` writes one JSON object per line instead: time, level, logger, message, and the
fields of an event (`firebell.events`: page, escalation, acknowledged ...) as keys of their own.

The access log (uvicorn's) shows method, path and status, never a query string (calendar feed
tokens ride in it) nor a path segment that looks like a token; bodies are never logged.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
MAX_MESSAGE = 2000
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(text: str, *, limit: int = MAX_MESSAGE) -> str:
    """`text` with its control characters escaped, cut to about `limit` characters."""
    escaped = _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode(), text[:limit])
    if len(text) > limit or len(escaped) > limit:
        return f"{escaped[:limit]}... ({len(text)} characters)"
    return escaped


class OneLineFormatter(logging.Formatter):
    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        return one_line(super().formatMessage(record), limit=MAX_MESSAGE + 200)

    def formatException(self, ei: Any) -> str:  # noqa: N802
        text = super().formatException(ei)
        return "\n".join("    " + one_line(line, limit=MAX_MESSAGE) for line in text.split("\n"))

    def formatStack(self, stack_info: str) -> str:  # noqa: N802
        return "\n".join("    " + one_line(line) for line in stack_info.split("\n"))


class JsonFormatter(logging.Formatter):
    """One JSON object per line (json.dumps escapes every newline and non-ASCII character)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": one_line(record.getMessage()),
        }
        fields, event = getattr(record, "fields", None), getattr(record, "event", None)
        if isinstance(fields, dict):
            if event:
                entry["event"] = event
            entry.update({k: v for k, v in fields.items() if k not in entry})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)[-MAX_MESSAGE * 4:]
        return json.dumps(entry, default=str)


FORMATS = ("text", "json")
# Chatty below WARNING: APScheduler writes two lines per wake-up, httpx one per vendor request,
# uvicorn's server its start-up banner (Firebell logs its own "listening on" line).
QUIET = ("apscheduler", "httpx", "httpcore", "twilio.http_client", "uvicorn.error")
ACCESS = "uvicorn.access"
_QUERY = re.compile(r"\?.*", re.DOTALL)
# A path segment that may be a credential: long, and letters mixed with digits.
_TOKENISH = re.compile(r"(?=[^/]*\d)(?=[^/]*[A-Za-z])[A-Za-z0-9_.~%=+-]{20,}")


def safe_path(path: str) -> str:
    """A request path fit for the log: no query string, no token-like segment."""
    bare, query = _QUERY.sub("", path), "?" in path
    return "/".join("[redacted]" if _TOKENISH.fullmatch(part) else part
                    for part in bare.split("/")) + ("?[query]" if query else "")


# Bolt warnings that quote the request's body (an unhandled request, a middleware that did not
# answer): logged without it.
_QUOTES_BODY = ("Unhandled request", "A global middleware")


def _not_a_body(record: logging.LogRecord) -> bool:
    if not record.name.startswith("slack_bolt"):
        return True
    if record.levelno < logging.WARNING:
        return False
    message = record.getMessage()
    if message.startswith(_QUOTES_BODY):
        record.msg, record.args = message.split(" (", 1)[0] + " (its body is not logged)", ()
    return True


def _safe_access(record: logging.LogRecord) -> bool:
    """uvicorn's access record (`client - "METHOD path HTTP/v" status`) with its path made safe."""
    args = record.args
    if record.name == ACCESS and isinstance(args, tuple) and len(args) == 5:
        client, method, path, version, status = args
        record.args = (client, method, safe_path(str(path)), version, status)
        record.event, record.fields = "request", {
            "method": method, "path": record.args[2], "status": status}
    return True


def configure_logging(level: int | str = logging.INFO, fmt: str = "text") -> None:
    """The root logger writes one record per line to stderr (uvicorn's too, when it is run with
    `log_config=None` and no `log_level`): `fmt` "text" or "json", at `level` (a number or a
    name: DEBUG, INFO, WARNING ...). Called again, it replaces its own handler; a root logger
    someone else set up (a test runner) is left alone."""
    root = logging.getLogger()
    ours = [h for h in root.handlers if getattr(h, "firebell", False)]
    if root.handlers and not ours:
        return
    for handler in ours:
        root.removeHandler(handler)
    handler = logging.StreamHandler()
    handler.firebell = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter() if fmt == "json" else OneLineFormatter(FORMAT))
    handler.addFilter(_not_a_body)
    handler.addFilter(_safe_access)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    debugging = root.getEffectiveLevel() <= logging.DEBUG
    for name in QUIET:  # at DEBUG, everything
        logging.getLogger(name).setLevel(logging.NOTSET if debugging else logging.WARNING)
