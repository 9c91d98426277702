"""Faults the loopback fakes (`slack_fake`, `twilio_fake`) can inject into any call, and the
arrival of every call as something a test can wait for.

A fault applies to the calls of one name (a Slack Web API method such as
`conversations.create`; for Twilio `sms`, `voice`, `sms.list`, `voice.list`) whose parameters
match. It can

- delay the call (then act on it and answer as usual),
- hang it until the test releases it (`hang=True`): the vendor has not acted yet, so a release
  acts and answers late; with `accepted=True` the vendor acts at once and only its answer hangs,
- fail it (`status=503`): answer that status without acting,
- accept it, then time out (`accept_then_sleep=12`): act on it, then sleep past the client's
  timeout before answering.

A test waits for a call to *arrive* (`wait_arrival`), i.e. to be on the wire, before the fake
does anything with it: that is the moment to kill the server "while the effect is in flight".
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Where = Callable[[dict[str, Any]], bool]
HANG_LIMIT = 300.0  # a hung call is let go after this long, in case a test forgot it


@dataclass
class Arrival:
    """One call as it reached the fake, before any fault acted on it."""

    name: str
    params: dict[str, Any]
    at: float = field(default_factory=time.monotonic)


class Fault:
    """What the fake does with the calls that match; see the module docstring."""

    def __init__(
        self, name: str, *, where: Where | None = None, equals: dict[str, Any] | None = None,
        delay: float = 0.0, hang: bool = False, accepted: bool = False, status: int | None = None,
        accept_then_sleep: float = 0.0, times: int | None = None,
    ) -> None:
        if accepted and not hang:
            raise ValueError("accepted=True describes a hang: pass hang=True too")
        if status is not None and (accepted or accept_then_sleep):
            raise ValueError("a failed call is not acted on: status excludes accepting it")
        self.name, self.where, self.equals = name, where, dict(equals or {})
        self.delay, self.hang, self.accepted = delay, hang, accepted
        self.status, self.accept_then_sleep, self.times = status, accept_then_sleep, times
        self.arrivals: list[Arrival] = []
        self.answered: list[float] = []  # monotonic times the matching calls were answered
        self.arrived = threading.Event()  # set when the first matching call arrives
        self._released = threading.Event()
        self._act_on_release = True

    def matches(self, name: str, params: dict[str, Any]) -> bool:
        if name != self.name or (self.times is not None and len(self.arrivals) >= self.times):
            return False
        if any(str(params.get(k)) != str(v) for k, v in self.equals.items()):
            return False
        return self.where is None or bool(self.where(params))

    def release(self, *, act: bool = True) -> None:
        """Let hung calls go on. `act=False`: the vendor never took them; they fail (503)."""
        self._act_on_release = act
        self._released.set()

    @property
    def released(self) -> bool:
        return self._released.is_set()

    def wait_arrival(self, *, timeout: float = 10.0) -> Arrival:
        if not self.arrived.wait(timeout):
            raise AssertionError(f"no {self.name} call matching {self.equals or self.where} "
                                 f"arrived within {timeout}s")
        return self.arrivals[0]

    # used by the fakes' handlers ------------------------------------------------------
    def before(self) -> int | None:
        """Called before the fake acts. Returns a status to answer without acting, or None."""
        if self.delay:
            time.sleep(self.delay)
        if self.hang and not self.accepted:
            self._released.wait(HANG_LIMIT)
            if not self._act_on_release:
                return 503
        return self.status

    def after(self) -> None:
        """Called after the fake acted, before it answers."""
        if self.hang and self.accepted:
            self._released.wait(HANG_LIMIT)
        if self.accept_then_sleep:
            time.sleep(self.accept_then_sleep)


class FaultPlan:
    """The faults of one fake and every call's arrival."""

    def __init__(self) -> None:
        self.faults: list[Fault] = []
        self.arrivals: list[Arrival] = []
        self._changed = threading.Condition()

    def add(self, fault: Fault) -> Fault:
        with self._changed:
            self.faults.append(fault)
        return fault

    def arrive(self, name: str, params: dict[str, Any]) -> Fault | None:
        """Record a call's arrival; the first fault that takes it, if any."""
        arrival = Arrival(name, dict(params))
        with self._changed:
            self.arrivals.append(arrival)
            fault = next((f for f in self.faults if f.matches(name, params)), None)
            if fault is not None:
                fault.arrivals.append(arrival)
                fault.arrived.set()
            self._changed.notify_all()
        return fault

    def answered(self, fault: Fault | None) -> None:
        if fault is not None:
            with self._changed:
                fault.answered.append(time.monotonic())

    def matching(self, name: str, where: Where | None = None, **equals: Any) -> list[Arrival]:
        """The calls of `name` with these parameters that arrived so far."""
        with self._changed:
            return self._matching(name, where, equals)

    def wait_arrival(self, name: str, *, where: Where | None = None, count: int = 1,
                     timeout: float = 10.0, **equals: Any) -> list[Arrival]:
        """Block until `count` calls of `name` (matching) have arrived; returns them."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = self._matching(name, where, equals)
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(found)} of {count} {name} call(s) arrived "
                                         f"within {timeout}s; all arrivals: "
                                         f"{[a.name for a in self.arrivals]}")
                self._changed.wait(left)

    def _matching(self, name: str, where: Where | None, equals: dict[str, Any]) -> list[Arrival]:
        return [a for a in self.arrivals if a.name == name
                and all(str(a.params.get(k)) == str(v) for k, v in equals.items())
                and (where is None or where(a.params))]

    def release_all(self, *, act: bool = False) -> None:
        """Let every hung call go (at shutdown: by default as if the vendor never took it)."""
        with self._changed:
            faults = list(self.faults)
        for fault in faults:
            if not fault.released:
                fault.release(act=act)
