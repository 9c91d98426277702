"""The .ics export parses with `icalendar` and round-trips the shifts, with a VTIMEZONE."""

from __future__ import annotations

from datetime import UTC, datetime

from icalendar import Calendar

from adapters.ical import read_shifts, shifts_calendar
from bot.calendars import calendar_token
from workflows.catalog import Catalog
from workflows.oncall import shifts


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
