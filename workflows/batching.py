"""Group commit: work that arrives together is done in one transaction.

Under an alert storm most of a webhook's cost is its transaction (begin, commit, and on SQLite
the hand-over of the one write lock from thread to thread), not its few statements. So callers
queue their items; one caller at a time (the leader) takes everything queued and runs it
together, and each caller gets its own result once that run is done. If a run together fails,
each of its items is run again alone, so one bad item costs the others nothing but time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


@dataclass(eq=False)
class _Job(Generic[T, R]):
    item: T
    done: Future[R] = field(default_factory=Future)


class GroupCommit(Generic[T, R]):
    """`submit(item, run)` returns `run([item, ...])`'s result for `item`, where the list holds
    whatever other callers submitted meanwhile (at most `most` items, in the order they came).
    `run` must return one result per item, in order, and do them all or nothing."""

    def __init__(self, *, most: int = 200) -> None:
        self._most = most
        self._queued: list[_Job[T, R]] = []
        self._queue_lock = threading.Lock()
        self._leader = threading.Lock()

    @property
    def waiting(self) -> int:
        """How many items are queued for the next run."""
        with self._queue_lock:
            return len(self._queued)

    def submit(self, item: T, run: Callable[[list[T]], list[R]]) -> R:
        job: _Job[T, R] = _Job(item)
        with self._queue_lock:
            self._queued.append(job)
        with self._leader:
            # A leader before us may have run our item already; if not, it is queued, and
            # first-come batches end with it at the latest.
            while not job.done.done():
                with self._queue_lock:
                    batch = self._queued[:self._most]
                    del self._queued[:self._most]
                if not batch:
                    break
                _run(batch, run)
        return job.done.result()


def _run(batch: list[_Job[T, R]], run: Callable[[list[T]], list[R]]) -> None:
    try:
        results = run([job.item for job in batch])
    except BaseException as error:  # noqa: BLE001 - handed to the callers, who raise it
        if len(batch) == 1:
            batch[0].done.set_exception(error)
            return
        for job in batch:  # together they failed: each alone, so one bad item fails alone
            _settle_alone(job, run)
        return
    for job, result in zip(batch, results, strict=True):
        job.done.set_result(result)


def _settle_alone(job: _Job[T, R], run: Callable[[list[T]], list[R]]) -> None:
    try:
        [result] = run([job.item])
    except BaseException as error:  # noqa: BLE001 - handed to the caller, who raises it
        job.done.set_exception(error)
    else:
        job.done.set_result(result)
