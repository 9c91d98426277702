"""The .ics export parses with `icalendar` and round-trips the shifts, with a VTIMEZONE."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import vobject  # type: ignore[import-untyped]
from icalendar import Calendar

from bot.calendars import calendar_token
from bot.ical import read_shifts, shifts_calendar
from workflows.catalog.model import Catalog
from workflows.oncall.schedules import shifts


def catalog() -> Catalog:
    return Catalog.model_validate({
        "timezone": "Europe/Berlin",
        "people": [{"id": "alice", "name": "Alice"}, {"id": "bob", "name": "Bob"}],
        "teams": [{"id": "t"}],
        "schedules": [{
            "id": "s", "team": "t",
            "layers": [
                {"name": "24/7", "every": "1w", "handoff": "Mon 09:00", "start": "2026-01-05",
                 "members": ["alice", "bob"]},
                {"name": "day", "every": "1d", "start": "2026-01-05", "members": ["bob"],
                 "restrictions": {"days": "Mon-Fri", "hours": "09:00-17:00"}},
            ],
            "overrides": [{"person": "alice", "start": "2026-03-29T01:00", "end": "2026-03-29T05:00"}],
        }],
    })  # fmt: skip


def test_ics_round_trips_shifts_across_a_dst_change_with_its_vtimezone() -> None:
    c = catalog()
    start, end = datetime(2026, 3, 16, tzinfo=UTC), datetime(2026, 4, 14, tzinfo=UTC)
    found = shifts(c, schedule_id="s", start=start, end=end)
    data = shifts_calendar(name="On call: s", zone="Europe/Berlin",
                           shifts=[("s", x) for x in found], names={"alice": "Alice", "bob": "Bob"},
                           stamp=start)  # fmt: skip
    parsed = Calendar.from_ical(data)
    (zone,) = parsed.walk("VTIMEZONE")
    assert zone["TZID"] == "Europe/Berlin"
    events = parsed.walk("VEVENT")
    assert all(e["DTSTART"].params["TZID"] == "Europe/Berlin" for e in events)
    assert len({str(e["UID"]) for e in events}) == len(events)
    names = {"alice": "Alice", "bob": "Bob"}
    assert read_shifts(data) == [(f"On call: {names[x.person]} (s)", x.start, x.end) for x in found]


def test_feed_tokens_differ_per_subject_and_secret() -> None:
    a = calendar_token("secret", "person:alice")
    assert a == calendar_token("secret", "person:alice")
    assert a != calendar_token("secret", "person:bob") != calendar_token("other", "person:alice")


def _zoneinfo_changes(zone: str, first: datetime, last: datetime) -> set[tuple[datetime, int, int]]:
    """(instant, offset before, offset after in seconds) of each change, hour by hour."""
    tz, found, at = ZoneInfo(zone), set(), first
    while at < last:
        before, after = (at.astimezone(tz).utcoffset(), (at + timedelta(hours=1)).astimezone(tz).utcoffset())
        assert before is not None and after is not None
        if before != after:
            found.add((at + timedelta(hours=1), int(before.total_seconds()), int(after.total_seconds())))
        at += timedelta(hours=1)
    return found


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York"])
def test_vtimezone_onsets_are_the_zone_databases_transitions(zone: str) -> None:
    stamp = datetime(2026, 3, 16, tzinfo=UTC)
    shift = shifts(catalog(), schedule_id="s", start=stamp, end=stamp + timedelta(days=1))
    data = shifts_calendar(name="x", zone=zone, shifts=[("s", x) for x in shift], names={},
                           stamp=stamp)  # fmt: skip
    (vtimezone,) = Calendar.from_ical(data).walk("VTIMEZONE")
    onsets: set[tuple[datetime, int, int]] = set()
    kinds = {}
    for observance in vtimezone.subcomponents:
        before = int(observance.decoded("TZOFFSETFROM").total_seconds())
        after = int(observance.decoded("TZOFFSETTO").total_seconds())
        rdates = observance.get("RDATE", [])
        rdates = rdates if isinstance(rdates, list) else [rdates]
        assert all(len(r.dts) == 1 for r in rdates)  # one date a line: vobject reads only the first
        # An onset is a local time on the clock before the change (DAYLIGHT: 02:00, not 03:00).
        for local in [observance.decoded("DTSTART"), *(r.dts[0].dt for r in rdates)]:
            if before != after:
                onsets.add(((local - timedelta(seconds=before)).replace(tzinfo=UTC), before, after))
                kinds[local.year, observance.name] = after > before
    expected = _zoneinfo_changes(zone, datetime(2024, 1, 1, tzinfo=UTC), datetime(2029, 1, 1, tzinfo=UTC))
    assert onsets == expected and len(expected) == 10
    assert all(daylight == (name == "DAYLIGHT") for (_, name), daylight in kinds.items())

    # vobject (dateutil's tzical underneath) reads the same zone: every hour has zoneinfo's offset.
    parsed = vobject.readOne(data.decode())
    theirs, ours = parsed.vtimezone.gettzinfo(), ZoneInfo(zone)
    moments = [t + timedelta(minutes=m) for t, _, _ in expected for m in (-1, 0, 1)]
    moments += [datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=d) for d in range(0, 5 * 365, 7)]
    for at in moments:
        assert at.astimezone(theirs).utcoffset() == at.astimezone(ours).utcoffset(), at
    for event, expected_shift in zip(parsed.vevent_list, shift, strict=True):
        assert event.dtstart.value == expected_shift.start
