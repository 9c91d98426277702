"""Who is on call for 1,000 schedules with 10 overrides each, at one instant (target < 200 ms).

Run: `python -m bench.oncall`. Schedules have two layers (a weekly 24/7 rotation under a
weekday-daytime one) in zones spread around the world; each has 10 stored overrides.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from workflows.catalog.model import Catalog, Schedule
from workflows.oncall.changes import effective_schedule
from workflows.oncall.model import ScheduleVersion, StoredOverride
from workflows.oncall.schedules import on_call

ZONES = ["Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Sydney", "UTC",
         "America/Los_Angeles", "Asia/Tokyo", "Europe/London", "America/Sao_Paulo"]  # fmt: skip
SCHEDULES = 1000
OVERRIDES = 10
AT = datetime(2026, 11, 24, 14, 30, tzinfo=UTC)


def build_catalog() -> Catalog:
    people = [{"id": f"p{i}"} for i in range(50)]
    schedules = []
    for n in range(SCHEDULES):
        members = [f"p{(n + k) % 50}" for k in range(4)]
        schedules.append({
            "id": f"s{n}", "team": "t", "timezone": ZONES[n % len(ZONES)],
            "layers": [
                {"name": "24/7", "every": "1w", "handoff": "Mon 09:00", "start": "2026-01-05",
                 "members": members},
                {"name": "day", "every": "1d", "handoff": "09:00", "start": "2026-01-05",
                 "members": members[::-1], "restrictions": {"days": "Mon-Fri",
                                                            "hours": "09:00-17:00"}},
            ],
        })  # fmt: skip
    catalog = Catalog.model_validate({"people": people, "teams": [{"id": "t"}], "schedules": schedules})
    effective: list[Schedule] = []
    for n, schedule in enumerate(catalog.schedules):
        overrides = tuple(
            # One schedule in ten has an override around AT; the rest are decided by the layers.
            StoredOverride(person=f"p{(k * 7) % 50}", start=AT + timedelta(hours=6 * k + shift),
                           end=AT + timedelta(hours=6 * k + shift + 5))
            for k in range(OVERRIDES)
            for shift in [-1 if n % 10 == 0 else -61]
        )  # fmt: skip
        version = ScheduleVersion(
            schedule=schedule.id, number=1, at=AT, author="bench", reason="", catalog_digest="",
            base=schedule.model_dump(mode="json"), overrides=overrides,
        )  # fmt: skip
        effective.append(effective_schedule(version))
    return catalog.with_schedules(effective)


def measure(catalog: Catalog, *, repeat: int = 5) -> float:
    """The best of `repeat` runs, in milliseconds, of who is on call for every schedule."""
    best = float("inf")
    for _ in range(repeat):
        began = time.perf_counter()
        for schedule in catalog.schedules:
            on_call(catalog, schedule_id=schedule.id, at=AT)
        best = min(best, time.perf_counter() - began)
    return best * 1000


def main() -> int:
    catalog = build_catalog()
    ms = measure(catalog)
    verdict = "OK" if ms < 200 else "over the 200 ms target"
    print(f"who is on call: {SCHEDULES} schedules x {OVERRIDES} overrides: {ms:.1f} ms ({verdict})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
