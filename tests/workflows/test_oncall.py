"""On call: rotations on the wall clock across DST, layers, overrides, targets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.paths import EXAMPLES
from workflows.catalog.load import load_catalog
from workflows.catalog.model import Catalog, UnknownEntity
from workflows.oncall.schedules import Shift, next_handoff, on_call, resolve_targets, shifts

BERLIN = ZoneInfo("Europe/Berlin")
EXAMPLE = EXAMPLES / "firebell.yaml"


def berlin(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(EXAMPLE)


def make_catalog(schedule: dict, *, people=("alice", "bob", "carol", "dave")) -> Catalog:
    return Catalog.model_validate(
        {
            "people": [{"id": p} for p in people],
            "teams": [{"id": "t"}],
            "schedules": [{"id": "s", "team": "t", **schedule}],
        }
    )


def test_weekly_handoff_stays_at_0900_berlin_across_both_dst_changes(catalog):
    for start, end in [
        (berlin(2026, 3, 16), berlin(2026, 4, 14)),
        (berlin(2026, 10, 12), berlin(2026, 11, 10)),
    ]:
        found = shifts(catalog, schedule_id="payments-primary", start=start, end=end)
        handoffs = [s.start.astimezone(BERLIN) for s in found[1:]]
        assert len(handoffs) == 5
        assert all((h.weekday(), h.hour, h.minute) == (0, 9, 0) for h in handoffs), handoffs
    # 09:00 is 08:00 UTC in winter and 07:00 UTC in summer.
    assert on_call(
        catalog, schedule_id="payments-primary", at=datetime(2026, 3, 30, 6, 59, tzinfo=UTC)
    ) != on_call(
        catalog, schedule_id="payments-primary", at=datetime(2026, 3, 30, 7, 0, tzinfo=UTC)
    )
    before, after = (
        datetime(2026, 10, 26, 7, 59, tzinfo=UTC),
        datetime(2026, 10, 26, 8, 0, tzinfo=UTC),
    )
    assert on_call(catalog, schedule_id="payments-primary", at=before) != on_call(
        catalog, schedule_id="payments-primary", at=after
    )


def test_rotation_order_from_its_start(catalog):
    week = timedelta(weeks=1)
    first = berlin(2026, 1, 5, 9)
    who = [on_call(catalog, schedule_id="payments-primary", at=first + i * week) for i in range(4)]
    assert who == [["alice"], ["bob"], ["carol"], ["alice"]]
    # The cycle runs backwards from `start` too: a schedule never has a hole before it.
    assert on_call(catalog, schedule_id="payments-primary", at=first - timedelta(minutes=1)) == [
        "carol"
    ]


def test_override_wins_inside_its_window_only(catalog):
    at = berlin(2026, 12, 24, 18)  # naive override times in the file are Berlin time
    regular = on_call(catalog, schedule_id="payments-primary", at=at - timedelta(seconds=1))
    assert on_call(catalog, schedule_id="payments-primary", at=at) == ["dave"]
    assert on_call(catalog, schedule_id="payments-primary", at=berlin(2026, 12, 27, 8, 59)) == [
        "dave"
    ]
    assert on_call(catalog, schedule_id="payments-primary", at=berlin(2026, 12, 27, 9)) == regular
    found = shifts(
        catalog,
        schedule_id="payments-primary",
        start=berlin(2026, 12, 24),
        end=berlin(2026, 12, 28),
    )
    assert (
        Shift("dave", at.astimezone(UTC), berlin(2026, 12, 27, 9).astimezone(UTC), "override", True)
        in found
    )
    assert next_handoff(catalog, schedule_id="payments-primary", at=berlin(2026, 12, 24, 12)) == (
        at.astimezone(UTC),
        ["dave"],
    )


def test_later_layer_wins_where_it_has_someone(catalog):
    # platform-oncall: weekly bob/dave, with henry on a 22:00-07:00 (Berlin) layer on top.
    assert on_call(catalog, schedule_id="platform-oncall", at=berlin(2026, 1, 7, 12)) == ["bob"]
    assert on_call(catalog, schedule_id="platform-oncall", at=berlin(2026, 1, 7, 23)) == ["henry"]
    assert on_call(catalog, schedule_id="platform-oncall", at=berlin(2026, 1, 8, 6, 59)) == [
        "henry"
    ]
    assert on_call(catalog, schedule_id="platform-oncall", at=berlin(2026, 1, 14, 12)) == ["dave"]
    found = shifts(
        catalog,
        schedule_id="platform-oncall",
        start=berlin(2026, 1, 7, 12),
        end=berlin(2026, 1, 8, 12),
    )
    assert [(s.person, s.layer, s.start.astimezone(BERLIN).hour) for s in found] == [
        ("bob", "weekly", 12),
        ("henry", "pune-nights", 22),
        ("bob", "weekly", 7),
    ]


def test_restricted_layer_alone_leaves_gaps():
    catalog = make_catalog(
        {
            "timezone": "Europe/Berlin",
            "layers": [
                {
                    "name": "office",
                    "every": "1w",
                    "handoff": "Mon 09:00",
                    "start": "2026-01-05",
                    "members": ["alice", "bob"],
                    "restrictions": {"days": "Mon-Fri", "hours": "09:00-17:00"},
                }
            ],
        }
    )
    assert on_call(catalog, schedule_id="s", at=berlin(2026, 1, 10, 12)) == []  # Saturday
    assert next_handoff(catalog, schedule_id="s", at=berlin(2026, 1, 9, 12)) == (
        berlin(2026, 1, 9, 17).astimezone(UTC),
        [],
    )
    assert next_handoff(catalog, schedule_id="s", at=berlin(2026, 1, 10, 12)) == (
        berlin(2026, 1, 12, 9).astimezone(UTC),
        ["bob"],
    )
    found = shifts(catalog, schedule_id="s", start=berlin(2026, 1, 5), end=berlin(2026, 1, 12))
    assert len(found) == 5 and {s.person for s in found} == {"alice"}


def test_single_member_rotation_never_hands_off():
    catalog = make_catalog(
        {"rotation": {"every": "1d", "start": "2026-01-05", "members": ["alice"]}}
    )
    assert next_handoff(catalog, schedule_id="s", at=datetime(2026, 2, 1, tzinfo=UTC)) is None


def test_resolve_targets_expands_and_deduplicates(catalog):
    at = berlin(2026, 1, 7, 12)  # primary alice, secondary dave, security henry (06:00 New York)
    targets = [
        "schedule:payments-primary",
        "team:payments",
        "person:erin",
        "alice",
        "group:security",
        "group:exec",
    ]
    assert resolve_targets(catalog, targets=targets, at=at) == [
        "alice",
        "dave",
        "erin",
        "henry",
        "grace",
    ]
    with pytest.raises(UnknownEntity, match="unknown group 'board'"):
        resolve_targets(catalog, targets=["group:board"], at=at)


def test_naive_datetimes_are_refused(catalog):
    with pytest.raises(ValueError, match="timezone-aware"):
        on_call(catalog, schedule_id="payments-primary", at=datetime(2026, 1, 7, 12))


ZONES = [
    "UTC", "America/New_York", "America/Los_Angeles", "America/St_Johns", "America/Sao_Paulo",
    "Europe/Berlin", "Europe/London", "Asia/Kolkata", "Australia/Sydney", "Pacific/Auckland",
]  # fmt: skip
PEOPLE = ["alice", "bob", "carol", "dave"]


@settings(max_examples=100, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    every=st.sampled_from(["12h", "1d", "1w", "2w"]),
    weekday=st.sampled_from(["", "Mon ", "Thu ", "Sun "]),
    hour=st.integers(5, 11),  # DST changes happen at night: a handoff then may not exist
    minute=st.sampled_from([0, 15, 30, 45]),
    members=st.lists(st.sampled_from(PEOPLE), min_size=1, max_size=4, unique=True),
    start=st.datetimes(datetime(2026, 1, 1), datetime(2027, 12, 31)),
    length=st.timedeltas(timedelta(hours=1), timedelta(days=60)),
    override=st.tuples(st.floats(0, 1), st.floats(0, 1)),
)
def test_shifts_cover_the_window_without_gaps_or_overlaps(
    zone, every, weekday, hour, minute, members, start, length, override
):
    weekday = weekday if every in ("1w", "2w") else ""
    rotation = {
        "every": every,
        "handoff": f"{weekday}{hour:02d}:{minute:02d}",
        "start": "2026-01-07",
        "members": members,
    }
    catalog = make_catalog({"timezone": zone, "rotation": rotation}, people=[*PEOPLE, "olga"])
    begin = start.replace(tzinfo=UTC)
    end = begin + length
    found = shifts(catalog, schedule_id="s", start=begin, end=end)

    assert found[0].start == begin and found[-1].end == end
    tz = ZoneInfo(zone)
    for before, after in zip(found, found[1:], strict=False):
        assert before.end == after.start  # no gap, no overlap
        assert before.person != after.person
        assert after.person == members[(members.index(before.person) + 1) % len(members)]
        local = after.start.astimezone(tz)
        assert (
            (local.hour % 12, local.minute) == (hour, minute)
            if every == "12h"
            else (local.hour, local.minute) == (hour, minute)
        )
        if weekday:
            assert local.strftime("%a ") == weekday

    # An override wins inside its window and changes nothing outside it.
    o_start = begin + length * min(override)
    o_end = begin + length * max(override) + timedelta(minutes=1)
    rotation_only = catalog
    catalog = make_catalog(
        {
            "timezone": zone,
            "rotation": rotation,
            "overrides": [
                {"person": "olga", "start": o_start.isoformat(), "end": o_end.isoformat()}
            ],
        },
        people=[*PEOPLE, "olga"],
    )
    for at in (o_start, o_start + (o_end - o_start) / 2, o_end - timedelta(seconds=1)):
        assert on_call(catalog, schedule_id="s", at=at) == ["olga"]
    for at in (o_start - timedelta(seconds=1), o_end):
        assert on_call(catalog, schedule_id="s", at=at) == on_call(
            rotation_only, schedule_id="s", at=at
        )
    with_override = shifts(catalog, schedule_id="s", start=begin, end=end)
    assert all(a.end == b.start for a, b in zip(with_override, with_override[1:], strict=False))
    if o_start < end:
        assert any(
            s.override and s.start == o_start and s.end == min(o_end, end) for s in with_override
        )
