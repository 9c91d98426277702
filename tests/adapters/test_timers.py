"""The APScheduler waker (adapters/timers.py): one wake-up pending at a time, the earliest."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from adapters.timers import SchedulerTimers


def _waker(work: list[float], ran: threading.Event) -> SchedulerTimers:
    def act() -> None:
        work.append(time.monotonic())
        ran.set()
    timers = SchedulerTimers(act, poll_seconds=3600)
    timers.start()
    return timers


def test_a_thousand_later_deadlines_keep_one_wake_up_and_the_earliest_runs() -> None:
    work: list[float] = []
    ran = threading.Event()
    timers = _waker(work, ran)
    try:
        assert ran.wait(timeout=5)  # the first poll runs at start
        ran.clear()
        now = datetime.now(UTC)
        for minutes in range(1, 1001):  # an hour of an escalation's deadlines, one by one
            timers.wake_at(now + timedelta(minutes=minutes))
        assert timers.pending == 2  # the poll and one wake-up, not a thousand
        started = time.monotonic()
        timers.wake_at(now + timedelta(milliseconds=300))  # an earlier one replaces it
        assert timers.pending == 2
        assert ran.wait(timeout=5)
        assert time.monotonic() - started < 3
        # After the run, a later wake-up is scheduled again (the run asks for the next one).
        timers.wake_at(datetime.now(UTC) + timedelta(minutes=5))
        assert timers.pending == 2
    finally:
        timers.shutdown()


def test_a_wake_up_asked_for_while_one_runs_is_not_lost() -> None:
    work: list[float] = []
    ran = threading.Event()
    timers = _waker(work, ran)
    try:
        assert ran.wait(timeout=5)
        ran.clear()
        timers.wake_at(datetime.now(UTC) + timedelta(milliseconds=100))
        assert ran.wait(timeout=5)
        ran.clear()
        timers.wake_at(datetime.now(UTC) + timedelta(milliseconds=100))
        assert ran.wait(timeout=5)  # the second one was scheduled after the first ran
    finally:
        timers.shutdown()
