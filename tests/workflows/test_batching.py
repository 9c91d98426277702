"""Group commit (workflows/batching.py): what arrives while a run is going on is run together
next, each caller gets its own result, and one bad item fails alone."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

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


def _behind_a_held_run(group: GroupCommit[str, str], runs: Runs,
                       items: list[str]) -> tuple[str, list[str | BaseException]]:
    """Submit "first" and hold its run; queue `items` behind it, then let go. The first's
    result, and each item's result or error."""
    runs.release.clear()
    with ThreadPoolExecutor(max_workers=len(items) + 1) as pool:
        first = pool.submit(group.submit, "first", runs)
        assert runs.entered.wait(timeout=5)
        later = [pool.submit(group.submit, item, runs) for item in items]
        while group.waiting < len(items):
            threading.Event().wait(0.01)
        runs.release.set()
        return first.result(timeout=10), [f.exception(timeout=10) or f.result() for f in later]


def test_one_caller_alone_runs_its_item_alone() -> None:
    runs = Runs()
    assert GroupCommit[str, str]().submit("a", runs) == "A"
    assert runs.calls == [["a"]]


def test_what_arrives_during_a_run_is_run_together_next() -> None:
    runs, group = Runs(), GroupCommit[str, str]()
    items = [f"item{n}" for n in range(10)]
    first, results = _behind_a_held_run(group, runs, items)
    assert first == "FIRST"
    assert results == [item.upper() for item in items]
    assert runs.calls[0] == ["first"]
    assert sorted(runs.calls[1]) == sorted(items)
    assert len(runs.calls) == 2


def test_a_run_together_that_fails_is_run_again_one_by_one_and_the_bad_one_fails_alone() -> None:
    runs, group = Runs(), GroupCommit[str, str]()
    first, results = _behind_a_held_run(group, runs, ["x", "bad", "y"])
    assert first == "FIRST"
    assert results[0] == "X" and results[2] == "Y"
    assert isinstance(results[1], ValueError) and str(results[1]) == "bad item"
    # Together once, then each alone.
    assert sorted(runs.calls[1]) == ["bad", "x", "y"]
    assert sorted(map(tuple, runs.calls[2:])) == [("bad",), ("x",), ("y",)]


def test_a_batch_holds_at_most_most_items() -> None:
    runs, group = Runs(), GroupCommit[str, str](most=3)
    items = [f"i{n}" for n in range(7)]
    first, results = _behind_a_held_run(group, runs, items)
    assert first == "FIRST"
    assert sorted(map(str, results)) == sorted(item.upper() for item in items)
    assert all(len(call) <= 3 for call in runs.calls)
    assert sum(len(call) for call in runs.calls) == 8  # nobody's item ran twice
