"""Group commit (workflows/batching.py): what arrives while a run is going on is run together
next, each caller gets its own result, and one bad item fails alone."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from workflows.batching import GroupCommit


class Runs:
    """A `run` that records each call, can be held in its first call, and refuses "bad"."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.release.set()
        self.lock = threading.Lock()

    def __call__(self, items: list[str]) -> list[str]:
        with self.lock:
            self.calls.append(list(items))
        self.entered.set()
        self.release.wait(timeout=10)
        if "bad" in items:
            raise ValueError("bad item")
        return [item.upper() for item in items]


def test_one_caller_alone_runs_its_item_alone() -> None:
    runs = Runs()
    assert GroupCommit[str, str]().submit("a", runs) == "A"
    assert runs.calls == [["a"]]


def test_what_arrives_during_a_run_is_run_together_next() -> None:
    runs, group = Runs(), GroupCommit[str, str]()
    runs.release.clear()
    with ThreadPoolExecutor(max_workers=12) as pool:
        first = pool.submit(group.submit, "first", runs)
        assert runs.entered.wait(timeout=5)
        later = [pool.submit(group.submit, f"item{n}", runs) for n in range(10)]
        # All ten are queued behind the first run before it ends.
        while group.waiting < 10:
            threading.Event().wait(0.01)
        runs.release.set()
        assert first.result(timeout=10) == "FIRST"
        assert [f.result(timeout=10) for f in later] == [f"ITEM{n}" for n in range(10)]
    assert runs.calls[0] == ["first"]
    assert sorted(runs.calls[1]) == sorted(f"item{n}" for n in range(10))
    assert len(runs.calls) == 2


def test_a_run_together_that_fails_is_run_again_one_by_one_and_the_bad_one_fails_alone() -> None:
    runs, group = Runs(), GroupCommit[str, str]()
    runs.release.clear()
    with ThreadPoolExecutor(max_workers=4) as pool:
        first = pool.submit(group.submit, "first", runs)
        assert runs.entered.wait(timeout=5)
        later = [pool.submit(group.submit, item, runs) for item in ("x", "bad", "y")]
        while group.waiting < 3:
            threading.Event().wait(0.01)
        runs.release.set()
        assert first.result(timeout=10) == "FIRST"
        assert later[0].result(timeout=10) == "X"
        with pytest.raises(ValueError, match="bad item"):
            later[1].result(timeout=10)
        assert later[2].result(timeout=10) == "Y"
    # Together once, then each alone.
    assert sorted(runs.calls[1]) == ["bad", "x", "y"]
    assert sorted(map(tuple, runs.calls[2:])) == [("bad",), ("x",), ("y",)]


def test_a_batch_holds_at_most_most_items() -> None:
    runs, group = Runs(), GroupCommit[str, str](most=3)
    runs.release.clear()
    with ThreadPoolExecutor(max_workers=9) as pool:
        first = pool.submit(group.submit, "first", runs)
        assert runs.entered.wait(timeout=5)
        later = [pool.submit(group.submit, f"i{n}", runs) for n in range(7)]
        while group.waiting < 7:
            threading.Event().wait(0.01)
        runs.release.set()
        assert first.result(timeout=10) == "FIRST"
        assert sorted(f.result(timeout=10) for f in later) == sorted(f"I{n}" for n in range(7))
    assert all(len(call) <= 3 for call in runs.calls)
    assert sum(len(call) for call in runs.calls) == 8  # nobody's item ran twice
