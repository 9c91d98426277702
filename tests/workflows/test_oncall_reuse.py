"""`who_is_on_call` reuses an answer for a minute on the same catalog (issue 16: laying out the
turns is most of a busy `/oncall`'s cost), but never past the moment the answer changes: the
next handoff, a lower layer's next turn, a changed catalog, or an ask about an earlier time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from workflows.catalog.model import Catalog, Override
from workflows.incident.queries import REUSE, who_is_on_call

NINE = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)  # a daily 09:00 UTC handoff


def _catalog(layers: list[dict]) -> Catalog:
    return Catalog.model_validate({
        "people": [{"id": p} for p in ("alice", "bob", "carol", "dave")],
        "teams": [{"id": "t"}],
        "schedules": [{"id": "s", "team": "t", "timezone": "UTC", "layers": layers}],
    })


def _daily(name: str, members: list[str]) -> dict:
    return {"name": name, "every": "1d", "handoff": "09:00", "start": "2026-01-05",
            "members": members}


def test_an_answer_is_reused_within_the_minute() -> None:
    catalog = _catalog([_daily("base", ["alice", "bob"])])
    [first] = who_is_on_call(catalog, query="s", at=NINE - timedelta(minutes=30))
    [again] = who_is_on_call(catalog, query="s", at=NINE - timedelta(minutes=30) + REUSE / 2)
    assert again is first
    [later] = who_is_on_call(catalog, query="s", at=NINE - timedelta(minutes=30) + REUSE)
    assert later is not first and later == first  # worked out again; nothing changed


def test_the_answer_changes_at_the_handoff_inside_the_minute() -> None:
    catalog = _catalog([_daily("base", ["alice", "bob"])])
    [before] = who_is_on_call(catalog, query="t", at=NINE - timedelta(seconds=20))
    assert (before.now, before.next_at, before.next_people) == (["alice"], NINE, ["bob"])
    [after] = who_is_on_call(catalog, query="t", at=NINE + timedelta(seconds=10))
    assert after.now == ["bob"] and after.next_people == ["alice"]
    assert after.next_at == NINE + timedelta(days=1)


def test_a_lower_layers_turn_inside_the_minute_is_seen() -> None:
    # carol on the top layer all the time: who is on call never changes, the base layer does.
    catalog = _catalog([_daily("base", ["alice", "bob"]), _daily("top", ["carol"])])
    [before] = who_is_on_call(catalog, query="s", at=NINE - timedelta(seconds=20))
    assert before.now == ["carol"] and before.next_at is None
    assert (before.layers[0].now, before.layers[0].next) == ("alice", "bob")
    [after] = who_is_on_call(catalog, query="s", at=NINE + timedelta(seconds=10))
    assert after.now == ["carol"]
    assert (after.layers[0].now, after.layers[0].next) == ("bob", "alice")


def test_a_changed_catalog_and_an_earlier_time_are_answered_afresh() -> None:
    catalog = _catalog([_daily("base", ["alice", "bob"])])
    at = NINE - timedelta(minutes=30)
    [first] = who_is_on_call(catalog, query="s", at=at)
    assert first.now == ["alice"]
    # An override made in chat: the context gets a new catalog with the effective schedule.
    schedule = catalog.schedule("s")
    covered = catalog.with_schedules([schedule.model_copy(update={"overrides": [
        Override(person="dave", start=at - timedelta(hours=1), end=at + timedelta(hours=1))]})])
    [overridden] = who_is_on_call(covered, query="s", at=at + timedelta(seconds=5))
    assert overridden.now == ["dave"]
    # Back on the first catalog, asked about a time before the one kept: not the kept answer.
    [earlier] = who_is_on_call(catalog, query="s", at=NINE - timedelta(days=1, minutes=30))
    assert earlier.now == ["bob"] and earlier.next_people == ["alice"]
