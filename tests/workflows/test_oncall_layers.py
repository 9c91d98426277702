"""Each layer's own now and next, for `/oncall` and the API."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.support.paths import DEMO_CATALOG, EXAMPLES
from workflows.catalog.load import load_catalog
from workflows.incident.queries import who_is_on_call
from workflows.oncall.schedules import layer_status

EXAMPLE = EXAMPLES / "firebell.yaml"


def test_layers_report_their_own_now_and_next() -> None:
    catalog = load_catalog(EXAMPLE)
    at = datetime(2026, 11, 24, 20, 0, tzinfo=UTC)  # Tuesday 21:00 in Berlin
    weekly, nights = layer_status(catalog, schedule_id="platform-oncall", at=at)
    assert (weekly.layer, weekly.now, weekly.next) == ("weekly", "bob", "dave")
    assert weekly.next_at == datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # Mon 10:00 CET
    assert (nights.layer, nights.now, nights.next) == ("pune-nights", None, "henry")
    assert nights.next_at == datetime(2026, 11, 24, 21, 0, tzinfo=UTC)  # 22:00 CET
    during_night = layer_status(catalog, schedule_id="platform-oncall",
                                at=datetime(2026, 11, 24, 23, 0, tzinfo=UTC))[1]
    assert (during_night.now, during_night.next) == ("henry", None)
    assert during_night.next_at == datetime(2026, 11, 25, 6, 0, tzinfo=UTC)  # 07:00 CET


def test_who_is_on_call_carries_the_layers() -> None:
    catalog = load_catalog(EXAMPLE)
    [answer] = who_is_on_call(catalog, query="platform", at=datetime(2026, 11, 24, 23, 0, tzinfo=UTC))
    assert answer.now == ["henry"]
    assert [layer.layer for layer in answer.layers] == ["weekly", "pune-nights"]


def test_a_one_person_layer_has_no_next() -> None:
    catalog = load_catalog(DEMO_CATALOG)
    [layer] = layer_status(catalog, schedule_id="payments-primary",
                           at=datetime(2026, 11, 24, 9, 0, tzinfo=UTC))
    assert (layer.now, layer.next_at, layer.next) == ("alice", None, None)
