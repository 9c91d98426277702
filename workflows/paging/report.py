"""Paging report: pages per person and per night, acknowledgement times, and who was paged more
than twice in a night — the seeds' sign of a reliability problem, not of a bad engineer."""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from workflows.catalog.model import Catalog
from workflows.context import Context
from workflows.model import AckFacts, Incident, Page, PageStatus

NIGHT_START, NIGHT_END = time(22, 0), time(7, 0)  # in the person's own zone
_DELIVERED = (PageStatus.SENT, PageStatus.ACKNOWLEDGED, PageStatus.FAILED)


@dataclass
class PersonPaging:
    person: str
    name: str
    interruptions: int = 0  # distinct (incident, step): channels of one page count once
    night_interruptions: int = 0
    acknowledged: int = 0
    ack_seconds: list[float] = field(default_factory=list)
    nights: dict[date, int] = field(default_factory=dict)  # night (its evening's date) -> pages
    zone: str = "UTC"  # the person's own zone, where their nights are

    @property
    def median_ack_seconds(self) -> float | None:
        return statistics.median(self.ack_seconds) if self.ack_seconds else None

    @property
    def bad_nights(self) -> list[date]:
        return sorted(night for night, count in self.nights.items() if count > 2)


def night_of(when: datetime, zone: str) -> date | None:
    """The night (by the date it began) that `when` falls in, for a person in `zone`."""
    local = when.astimezone(ZoneInfo(zone))
    if local.time() >= NIGHT_START:
        return local.date()
    if local.time() < NIGHT_END:
        return local.date() - timedelta(days=1)
    return None


def paging_report(
    catalog: Catalog, *, pages: list[Page], incidents: Mapping[int, Incident | AckFacts]
) -> list[PersonPaging]:
    """Figures per person from the pages of a period and their incidents.

    A drill's pages are practice, not interruptions: they are not counted.
    """
    people: dict[str, PersonPaging] = {}
    known = {p.id for p in catalog.people}
    seen: set[tuple[str, int, int, int]] = set()
    first_page: dict[tuple[str, int], datetime] = {}
    for page in sorted(pages, key=lambda p: p.created_at):
        if page.status not in _DELIVERED:
            continue
        incident = incidents.get(page.incident_id)
        if incident is not None and incident.drill:
            continue
        key = (page.person, page.incident_id, page.step, page.round)
        if key in seen:
            continue
        seen.add(key)
        entry = people.get(page.person)
        if entry is None:
            name = catalog.person(page.person).name if page.person in known else page.person
            entry = people[page.person] = PersonPaging(page.person, name)
            entry.zone = (catalog.person_zone(page.person) if page.person in known
                          else catalog.timezone)
        entry.interruptions += 1
        zone = entry.zone
        night = night_of(page.created_at, zone)
        if night is not None:
            entry.night_interruptions += 1
            entry.nights[night] = entry.nights.get(night, 0) + 1
        pair = (page.person, page.incident_id)
        if pair not in first_page or page.created_at < first_page[pair]:
            first_page[pair] = page.created_at
    for (person, incident_id), paged_at in first_page.items():
        incident = incidents.get(incident_id)
        if incident and incident.acknowledged_by == person and incident.acknowledged_at:
            people[person].acknowledged += 1
            people[person].ack_seconds.append((incident.acknowledged_at - paged_at).total_seconds())
    return sorted(people.values(), key=lambda p: (-p.interruptions, p.person))


def report_for(ctx: Context, *, start: datetime, end: datetime) -> list[PersonPaging]:
    """The paging report of a period, read from the store."""
    with ctx.reading() as uow:
        pages = uow.pages.pages_between(start=start, end=end)
        incidents = uow.incidents.ack_facts([p.incident_id for p in pages])
    return paging_report(ctx.catalog, pages=pages, incidents=incidents)


def report_json(report: list[PersonPaging]) -> list[dict[str, object]]:
    return [
        {
            "person": p.person, "name": p.name, "pages": p.interruptions,
            "night_pages": p.night_interruptions, "acknowledged": p.acknowledged,
            "median_ack_seconds": p.median_ack_seconds,
            "nights": {night.isoformat(): count for night, count in sorted(p.nights.items())},
            "paged_more_than_twice_in_a_night": [night.isoformat() for night in p.bad_nights],
        }
        for p in report
    ]
