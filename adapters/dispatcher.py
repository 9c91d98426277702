"""The effect dispatcher of `serve`: worker threads that claim outbox rows and perform them.

Each effect is performed on its own worker, so a hung vendor call (bounded by its client's
timeout) holds only its own effect; the deadlines, other incidents and the HTTP server go on.
Nothing is lost if the process dies: unfinished effects keep their rows, and their leases run
out for this process after a restart or for another replica.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta
from uuid import uuid4

from workflows.context import Context
from workflows.dispatch import claim, perform
from workflows.outbox import ClaimedEffect

log = logging.getLogger(__name__)
# After a process of this host died holding effects: how long before others take them over.
DEAD_LEASE_GRACE = 15.0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


class EffectDispatcher:
    """Claims due effects as workers free up; woken at once by `kick` after every commit."""

    def __init__(
        self, ctx: Context, *, workers: int = 16, poll_seconds: float = 1.0,
        yield_to: Callable[[], bool] = lambda: False,
    ) -> None:
        self.ctx = ctx
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid4().hex[:8]}"
        self._workers = workers
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="effects")
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._poll = poll_seconds
        # While this says so (the scheduler is acting on due deadlines), take no new effects:
        # the deadlines are what owe the next pages, and under load the workers' Python would
        # otherwise starve the scheduler's thread (a GIL convoy, measured on PostgreSQL).
        self._yield_to = yield_to
        self._running: dict[Future[None], int] = {}  # -> effect id
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="effect-dispatcher", daemon=True)
        # Performed effects not yet marked done: the loop writes them in one transaction, so a
        # burst of pages costs one write, not one each.
        self._finished: list[tuple[int, str | None]] = []

    def start(self) -> None:
        self._expire_dead_leases()
        self._thread.start()

    def _expire_dead_leases(self) -> None:
        """Leases held by processes of this host that are gone (killed, crashed) end soon, not
        after their full length: a restart carries on within DEAD_LEASE_GRACE, not 150 s.

        The grace is not zero: a request the dead process had sent may still be finishing at
        the vendor, and the look-up before a page is sent again must be able to see it.
        """
        host = socket.gethostname()
        try:
            with self.ctx.unit() as uow:
                now = self.ctx.now()
                for owner in uow.outbox.lease_owners(prefix=f"{host}:", now=now):
                    pid = owner.split(":")[1]
                    if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
                        uow.outbox.shorten_leases(
                            owner=owner, until=now + timedelta(seconds=DEAD_LEASE_GRACE))
        except Exception:
            log.exception("looking for leases of dead processes failed; they run out instead")

    def kick(self) -> None:
        """Something was committed: look for due effects now."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self._poll)
            self._wake.clear()
            try:
                self._mark_done()
                self._claim_some()
            except Exception:
                # The database may be locked or gone for a moment: the rows wait, we look again.
                log.exception("claiming effects failed")
                time.sleep(self._poll)
        self._mark_done()

    def _finish(self, effect: ClaimedEffect, result: str | None) -> None:
        with self._lock:
            self._finished.append((effect.id, result))
        self._wake.set()

    def _mark_done(self) -> None:
        with self._lock:
            finished, self._finished = self._finished, []
        if not finished:
            return
        try:
            with self.ctx.unit() as uow:
                uow.outbox.finish_effects(finished, owner=self.owner, at=self.ctx.now())
        except Exception:
            with self._lock:  # the database is away for a moment: try again on the next turn
                self._finished[:0] = finished
            raise

    def _claim_some(self) -> None:
        while not self._stopping.is_set():
            if self._yield_to():
                time.sleep(0.005)
                continue
            with self._lock:
                free = self._workers - len(self._running)
            if free <= 0:
                return
            batch = claim(self.ctx, owner=self.owner, limit=free)
            if not batch:
                return
            for effect in batch:
                future = self._pool.submit(perform, self.ctx, effect, owner=self.owner,
                                           done=self._finish)
                with self._lock:
                    self._running[future] = effect.id
                future.add_done_callback(self._done)

    def _done(self, future: Future[None]) -> None:
        with self._lock:
            self._running.pop(future, None)
        if not future.cancelled() and future.exception() is not None:
            # A programming error or the database gone: the lease runs out, and it is tried again.
            log.error("performing an effect failed", exc_info=future.exception())
        self._wake.set()  # a worker is free: the next effect of that incident may be due

    def stop(self, *, grace: float = 10.0) -> int:
        """Stop taking work and let in-flight effects finish within `grace` seconds. Returns how
        many were still running when the grace ran out: their leases run out (they may have
        reached the vendor, so nobody may take them over at once); any claimed but not started
        are given back for the next process to take at once."""
        self._stopping.set()
        self._wake.set()
        deadline = time.monotonic() + grace
        # The loop may be submitting a batch it just claimed: let it finish that first.
        if self._thread.is_alive():
            self._thread.join(timeout=grace)
        while time.monotonic() < deadline:
            with self._lock:
                if not self._running:
                    break
            time.sleep(0.05)
        self._pool.shutdown(wait=False, cancel_futures=True)
        try:
            self._mark_done()
        except Exception:
            log.exception("marking performed effects done at stop failed; they are checked again")
        with self._lock:
            unstarted = [i for f, i in self._running.items() if f.cancelled()]
            left = len(self._running) - len(unstarted)
        if unstarted:
            try:
                with self.ctx.store.transaction() as tx:
                    tx.release_effects(owner=self.owner, at=self.ctx.now(), ids=unstarted)
            except Exception:
                log.exception("giving back effects at stop failed; their leases run out instead")
        if left:
            log.warning("%d effect(s) still running at stop: taken over when their leases end", left)
        return left
