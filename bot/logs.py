"""Firebell's log: one line per record, whatever a request put in it.

Anything a stranger sends can reach a log message (a path, a header, a Slack user's text), so
every record is written as one line: control characters are escaped (a newline becomes `\\n`
and cannot start a forged record) and a message stops after MAX_MESSAGE characters. A traceback
keeps its lines, each indented, so none of them reads as a record of its own.

Bolt logs request bodies below WARNING (a request that failed its signature check, the body of a
request whose listener failed): those records are dropped, a body is never logged.
"""

from __future__ import annotations

import logging
import re
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


def _not_a_body(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING or not record.name.startswith("slack_bolt")


def configure_logging(level: int = logging.INFO) -> None:
    """The root logger writes one-line records to stderr (uvicorn's too, when it is run with
    `log_config=None`)."""
    handler = logging.StreamHandler()
    handler.setFormatter(OneLineFormatter(FORMAT))
    handler.addFilter(_not_a_body)
    logging.basicConfig(level=level, handlers=[handler])
