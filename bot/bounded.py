"""Answering a vendor's webhook within its patience when the database is slow or down.

Twilio hangs up on a webhook after 15 s and Telegram redelivers an update it got no answer to;
a locked SQLite database waits 30 s. So an acknowledgement from a phone or a Telegram button is
worked out in a thread and waited for at most ACK_WAIT_SECONDS: past that, or when the database
fails, the person is told it *may* not be recorded. A thread still waiting is left to finish:
it then records the acknowledgement (a second one is harmless) or fails, and either way says so
in the log.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import anyio
import anyio.to_thread
from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger(__name__)

ACK_WAIT_SECONDS = 8.0


async def answer_in_time(answer: Callable[[], str], *, what: str, vendor: str) -> str | None:
    """`answer()`, run in a thread; None when the database failed or did not answer within
    ACK_WAIT_SECONDS (the caller then tells the person it may not be recorded). `what` names
    the acknowledgement in the log, `vendor` who is told ("Twilio", "Telegram")."""
    late = threading.Event()

    def run() -> str | None:
        try:
            text = answer()
        except SQLAlchemyError:
            log.exception("%s was not recorded: the database failed", what)
            return None
        except Exception:
            if late.is_set():  # nobody is waiting any more to see it raise
                log.exception("%s failed after %s had been answered", what, vendor)
            raise
        if late.is_set():
            log.warning("%s finished after %s had been told it may not have been recorded; "
                        "its answer: %s", what, vendor, text)
        return text

    with anyio.move_on_after(ACK_WAIT_SECONDS):
        return await anyio.to_thread.run_sync(run, abandon_on_cancel=True)
    late.set()
    log.error("%s: no answer from the database within %g s; told that it may not be recorded",
              what, ACK_WAIT_SECONDS)
    return None
