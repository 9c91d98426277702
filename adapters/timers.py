"""APScheduler wakes the process when a deadline falls due; the database holds the deadlines.

APScheduler's persistent job stores are not used on purpose: its FAQ warns that sharing a job
store between processes is unsupported, and a job store cannot act on a deadline exactly once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler

log = logging.getLogger(__name__)


class SchedulerTimers:
    """The `Timers` port: one-off wake-ups plus a slow poll as a safety net (and for replicas)."""

    def __init__(
        self,
        work: Callable[[], object],
        *,
        poll_seconds: float = 15.0,
        on_poll: Callable[[], object] | None = None,
    ) -> None:
        self._work = work  # on every wake-up: acting on what is due
        # Only on the slow poll: housekeeping that need not run for every deadline that falls due.
        self._on_poll = on_poll
        self._lock = threading.Lock()
        # One wake-up is pending at a time, the earliest asked for: every run ends by asking
        # for the next due deadline or effect (workflows/deadlines.py), so a later one is never
        # lost. (A job per deadline kept every pending deadline of the next hours in memory.)
        self._wake_lock = threading.Lock()
        self._next: datetime | None = None
        self._scheduler = BackgroundScheduler(timezone=UTC)
        self._poll_seconds = poll_seconds
        # When the due work last ran through (wall clock): /metrics shows it, so that a scheduler
        # that stopped, or whose every run fails, is seen before a page is missed.
        self.last_run: datetime | None = None

    def start(self) -> None:
        self._scheduler.add_job(
            self._poll, "interval", seconds=self._poll_seconds, id="poll",
            next_run_time=datetime.now(UTC), coalesce=True, max_instances=1,
        )
        self._scheduler.start()

    @property
    def acting(self) -> bool:
        """True while due deadlines are being acted on."""
        return self._lock.locked()

    @property
    def running(self) -> bool:
        return bool(self._scheduler.running)

    def wake_at(self, when: datetime) -> None:
        if not self._scheduler.running:
            return
        # A few milliseconds late is fine; early would find nothing due yet.
        when = max(when, datetime.now(UTC)) + timedelta(milliseconds=5)
        with self._wake_lock:
            if self._next is not None and self._next <= when:
                return
            self._next = when
            self._scheduler.add_job(
                self._wake, "date", run_date=when, id="wake", replace_existing=True,
                misfire_grace_time=None, coalesce=True,
            )

    @property
    def pending(self) -> int:
        """How many wake-ups and polls the scheduler holds (one of each at most)."""
        return len(self._scheduler.get_jobs())

    def _wake(self) -> None:
        with self._wake_lock:
            self._next = None  # from now on, any wake-up asked for is scheduled
        self._run()

    def _poll(self) -> None:
        self._run(housekeeping=True)

    def _run(self, *, housekeeping: bool = False) -> None:
        if not self._lock.acquire(blocking=False):
            # Someone is already working through what is due; make sure we look again soon.
            self.wake_at(datetime.now(UTC) + timedelta(milliseconds=200))
            return
        try:
            if housekeeping and self._on_poll is not None:
                self._on_poll()
            self._work()
            self.last_run = datetime.now(UTC)
        except Exception:
            # A failed run must not stop the scheduler; the deadline is still due and retried.
            log.exception("acting on due deadlines failed")
        finally:
            self._lock.release()

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
