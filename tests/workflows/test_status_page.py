"""What the public status page shows, from the workflows on a real store: which incidents (only
with a public update, never a drill), the impact read from the priority, which services."""

from __future__ import annotations

from datetime import datetime

import pytest
import yaml

from storage.store import SqlStore
from tests.support.catalogs import PAGING
from tests.support.world import World
from workflows.catalog.load import parse_catalog
from workflows.catalog.sections import CatalogError
from workflows.incident.lifecycle import mitigate
from workflows.incident.respond import post_status
from workflows.status_page import status_page


def _catalog(**status_page: object) -> str:
    data = yaml.safe_load(PAGING)
    data["services"] += [
        {"id": "ledger", "name": "Ledger", "team": "payments"},
        {"id": "ledger-staging", "name": "Ledger (staging)", "team": "payments",
         "environment": "staging"},
    ]
    if status_page:
        data["status_page"] = status_page
    return yaml.safe_dump(data)


def _public(world: World, incident_id: int, text: str = "Looking into it.") -> None:
    post_status(world.ctx, incident_id=incident_id, stage="Investigating", text=text,
                author="alice", audience=("internal", "public"))


def test_impact_follows_priority_and_mitigation_and_drills_never_show(
    store: SqlStore, start_time: datetime,
) -> None:
    world = World.for_paging(store, start_time, catalog=_catalog())
    p1 = world.declare_id(service="checkout")
    p2 = world.declare_id(service="ledger", severity="major")
    drill = world.declare_id(service="checkout", drill=True)
    for incident in (p1, p2, drill):
        _public(world, incident)

    page = status_page(world.ctx)
    assert [c.id for c in page.components] == ["checkout", "ledger"]  # staging is not public
    assert {c.id: c.impact for c in page.components} == {
        "checkout": "major_outage", "ledger": "partial_outage"}
    assert sorted(i.ref for i in page.incidents) == sorted(f"INC-{n}" for n in (p1, p2))
    assert page.status == "outage"

    mitigate(world.ctx, incident_id=p1, actor="alice")
    page = status_page(world.ctx)
    assert {c.id: (c.status, c.impact) for c in page.components} == {
        "checkout": ("degraded", "degraded_performance"), "ledger": ("degraded", "partial_outage")}


def test_the_page_shows_only_its_services_and_a_p3_as_degraded(
    store: SqlStore, start_time: datetime,
) -> None:
    world = World.for_paging(store, start_time, catalog=_catalog(
        title="Acme status", services=["ledger"], history_days=3))
    p3 = world.declare_id(service="ledger", severity="minor", urgency="high")
    _public(world, world.declare_id(service="checkout"))
    _public(world, p3, "Slow ledger exports.")
    page = status_page(world.ctx)
    assert (page.title, page.history_days) == ("Acme status", 3)
    assert [(c.id, c.status, c.impact) for c in page.components] == [
        ("ledger", "degraded", "degraded_performance")]
    [shown] = page.incidents
    assert (shown.ref, shown.title) == (f"INC-{p3}", "Ledger: degraded performance")
    assert [u.text for u in shown.updates] == ["Slow ledger exports."]


def test_the_catalog_names_only_known_services_on_the_page() -> None:
    with pytest.raises(CatalogError) as raised:
        parse_catalog(_catalog(services=["ledgr"], statuspage={"components": {"chekout": "x"}}))
    problems = "\n".join(raised.value.problems)
    assert "status_page.services[0]: unknown service 'ledgr'" in problems
    assert "status_page.statuspage.components.chekout: unknown service 'chekout'" in problems
