"""Clocks: the real one, and a fake one that tests and the demo move by hand; timers that
only remember their wake-ups, for the same."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock:
    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        self._now += delta
        return self._now

    def set(self, when: datetime) -> None:
        self._now = when.astimezone(UTC)


class ManualTimers:
    """For tests and the demo: remembers the wake-ups; the caller runs due work itself."""

    def __init__(self) -> None:
        self.wakeups: list[datetime] = []

    def wake_at(self, when: datetime) -> None:
        self.wakeups.append(when)
