"""Properties over many zones and two years of DST: layered schedules with stored overrides."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from workflows.catalog.model import Catalog
from workflows.oncall.changes import effective_schedule
from workflows.oncall.model import ScheduleVersion, StoredOverride
from workflows.oncall.schedules import on_call, shifts

ZONES = ["Europe/Berlin", "America/New_York", "America/Santiago", "Australia/Lord_Howe",
         "Asia/Tehran", "Pacific/Chatham", "America/St_Johns", "Europe/London", "Africa/Casablanca",
         "Asia/Kolkata", "Pacific/Auckland", "America/Havana"]  # fmt: skip
PEOPLE = ["alice", "bob", "carol", "dave", "erin"]
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def layered(zone: str, every: str, handoff: str, overrides: list[tuple[int, int, str]]) -> Catalog:
    catalog = Catalog.model_validate({
        "people": [{"id": p} for p in PEOPLE], "teams": [{"id": "t"}],
        "schedules": [{"id": "s", "team": "t", "timezone": zone, "layers": [
            {"name": "base", "every": every, "handoff": handoff, "start": "2025-12-29",
             "members": ["alice", "bob", "carol"]},
            {"name": "day", "every": "1d", "handoff": "08:30", "start": "2026-01-01",
             "members": ["dave"], "restrictions": {"days": "Mon-Fri", "hours": "08:30-17:00"}},
        ]}],
    })  # fmt: skip
    version = ScheduleVersion(
        schedule="s", number=1, at=EPOCH, author="test", reason="", catalog_digest="",
        base=catalog.schedule("s").model_dump(mode="json"),
        overrides=tuple(
            StoredOverride(person=p, start=EPOCH + timedelta(minutes=a),
                           end=EPOCH + timedelta(minutes=a + b))
            for a, b, p in overrides
        ),
    )  # fmt: skip
    return catalog.with_schedules([effective_schedule(version)])


TWO_YEARS = 2 * 366 * 24 * 60
overrides = st.lists(
    st.tuples(st.integers(0, TWO_YEARS), st.integers(1, 5 * 24 * 60), st.sampled_from(PEOPLE)),
    max_size=6,
)
shapes = st.sampled_from([("1w", "Mon 09:00"), ("1d", "02:30"), ("12h", "07:00"), ("2w", "Sun 23:30")])


@settings(max_examples=60, deadline=None)
@given(zone=st.sampled_from(ZONES), shape=shapes, changes=overrides,
       offset=st.integers(0, TWO_YEARS), days=st.integers(1, 40))  # fmt: skip
def test_layered_coverage_has_no_gaps_or_overlaps(zone, shape, changes, offset, days) -> None:
    catalog = layered(zone, shape[0], shape[1], changes)
    start = EPOCH + timedelta(minutes=offset)
    end = start + timedelta(days=days)
    found = shifts(catalog, schedule_id="s", start=start, end=end)
    assert found[0].start == start and found[-1].end == end
    for a, b in zip(found, found[1:], strict=False):
        assert a.end == b.start  # no gap, no overlap
        assert a.start < a.end


@settings(max_examples=60, deadline=None)
@given(zone=st.sampled_from(ZONES), shape=shapes, offset=st.integers(0, TWO_YEARS))
def test_base_layer_handoffs_stay_at_wall_clock_time(zone, shape, offset) -> None:
    catalog = layered(zone, shape[0], shape[1], [])
    catalog = catalog.with_schedules([catalog.schedule("s").model_copy(
        update={"layers": catalog.schedule("s").layers[:1]})])  # fmt: skip
    start = EPOCH + timedelta(minutes=offset)
    found = shifts(catalog, schedule_id="s", start=start, end=start + timedelta(days=45))
    hour, minute = map(int, shape[1].split()[-1].split(":"))
    period = {"1w": 10080, "1d": 1440, "12h": 720, "2w": 20160}[shape[0]] % 1440 or 1440
    tz = ZoneInfo(zone)
    for shift in found[1:]:
        local = shift.start.astimezone(tz)
        naive = local.replace(tzinfo=None)
        on_time = (local.hour * 60 + local.minute - hour * 60 - minute) % period == 0
        # A handoff inside a skipped hour (spring forward) happens when the clock resumes.
        skipped = (naive - timedelta(hours=1)).replace(tzinfo=tz).astimezone(UTC).astimezone(
            tz).replace(tzinfo=None) != naive - timedelta(hours=1)
        assert on_time or skipped, (zone, shape, local)
        if shape[0].endswith("w") and on_time:
            assert local.strftime("%a") == shape[1].split()[0]


@settings(max_examples=80, deadline=None)
@given(zone=st.sampled_from(ZONES), shape=shapes, changes=overrides.filter(bool),
       pick=st.integers(0, 10**6))  # fmt: skip
def test_the_latest_stored_override_wins_inside_its_window(zone, shape, changes, pick) -> None:
    catalog = layered(zone, shape[0], shape[1], changes)
    a, b, _ = changes[pick % len(changes)]
    at = EPOCH + timedelta(minutes=a + (pick % b))
    covering = [p for s, d, p in changes if s <= (at - EPOCH).total_seconds() / 60 < s + d]
    assert on_call(catalog, schedule_id="s", at=at) == [covering[-1]]
