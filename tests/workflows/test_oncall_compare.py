"""Comparing another tool's answer with Firebell's, shift by shift (`firebell import --compare`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from workflows.catalog.load import parse_catalog
from workflows.oncall.compare import SourceShift, compare_schedule

BERLIN = ZoneInfo("Europe/Berlin")
CATALOG = parse_catalog("""
timezone: Europe/Berlin
people:
  - {id: alice, name: Alice Doe}
  - {id: bob, name: Bob Brandt}
teams:
  - {id: payments, name: Payments}
schedules:
  - id: primary
    team: payments
    rotation: {every: 1w, handoff: "Mon 09:00", start: "2027-03-15", members: [alice, bob]}
""")


def _local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=BERLIN).astimezone(UTC)


# The source's own answer across the DST change of 2027-03-28: the handoff stays at 09:00
# local (08:00 UTC before, 07:00 UTC after).
WEEKS = [("2027-03-22T09:00", "2027-03-29T09:00", "bob"),
         ("2027-03-29T09:00", "2027-04-05T09:00", "alice")]


def _said(weeks: list[tuple[str, str, str]]) -> list[SourceShift]:
    return [SourceShift("primary", who, _local(a), _local(b)) for a, b, who in weeks]


def test_the_same_answer_across_a_dst_change_has_no_difference() -> None:
    start, end = _local("2027-03-24T12:00"), _local("2027-04-03T12:00")
    result = compare_schedule(CATALOG, schedule="primary", source=_said(WEEKS),
                              start=start, end=end)
    assert (result.shifts, result.agreeing, result.differences) == (2, 2, [])


def test_a_handoff_an_hour_off_is_listed_with_both_answers() -> None:
    # A source that hands off at 09:00 UTC+1 all year (no DST): one hour differs, once.
    fixed = [(a, b, who) for a, b, who in WEEKS]
    said = _said(fixed[:1]) + [SourceShift("primary", "alice", _local("2027-03-29T10:00"),
                                           _local("2027-04-05T10:00"))]
    said[0] = SourceShift("primary", "bob", said[0].start, _local("2027-03-29T10:00"))
    start, end = _local("2027-03-24T12:00"), _local("2027-04-03T12:00")
    result = compare_schedule(CATALOG, schedule="primary", source=said, start=start, end=end)
    [difference] = result.differences
    assert (difference.start, difference.end) == (_local("2027-03-29T09:00"),
                                                  _local("2027-03-29T10:00"))
    assert (difference.source, difference.firebell) == (("bob",), ("alice",))
    assert (result.shifts, result.agreeing) == (2, 1)  # alice's week itself agrees


def test_nobody_on_one_side_is_a_difference_and_adjacent_stretches_merge() -> None:
    start = _local("2027-03-22T09:00")
    result = compare_schedule(CATALOG, schedule="primary", source=[], start=start,
                              end=_local("2027-04-05T09:00"))
    assert [(d.source, d.firebell) for d in result.differences] == [((), ("bob",)),
                                                                     ((), ("alice",))]
    result = compare_schedule(CATALOG, schedule="primary", source=[], start=start,
                              end=start + timedelta(days=3))
    assert [(d.start, d.end) for d in result.differences] == [(start, start + timedelta(days=3))]
