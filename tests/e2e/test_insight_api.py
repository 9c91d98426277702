"""The insight API over real HTTP: incidents past and open with filters and a cursor, one
incident with its record, the metrics as JSON (the same numbers as workflows/insights.py), and
a 400 naming each bad parameter."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.support.api import API_START
from tests.support.api import api_get as _get
from tests.support.slack_helpers import Harness
from workflows import insights
from workflows.clock import FakeClock
from workflows.incident import lifecycle, respond
from workflows.incident.declare import DeclareRequest, declare

START = API_START


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path, clock=FakeClock(START))
    yield harness
    harness.close()




def _history(h: Harness) -> list[int]:
    """Three resolved incidents in March (P2, P1, P1) and one open one in April."""
    ids = []
    for day, severity, ack, resolve in ((2, "major", 60, 600), (9, "critical", 120, 1800),
                                        (16, "critical", 300, 3600), (20, None, 0, 0)):
        h.clock.set(START.replace(day=day) if day != 20 else START.replace(month=4, day=day))
        incident = declare(h.firebell.ctx, DeclareRequest(
            title=f"Checkout slow {day}", service="checkout", severity=severity or "major",
            urgency="high"))
        assert incident.id is not None
        ids.append(incident.id)
        if ack:
            h.clock.set(incident.declared_at + timedelta(seconds=ack))
            respond.acknowledge(h.firebell.ctx, incident_id=incident.id, person="alice")
            h.clock.set(incident.declared_at + timedelta(seconds=resolve))
            lifecycle.resolve(h.firebell.ctx, incident_id=incident.id, actor="alice")
    return ids


def test_incidents_open_by_default_all_with_filters_and_a_cursor(h: Harness) -> None:
    ids = _history(h)
    open_now = _get(h, "/api/v1/incidents").json()
    assert open_now.keys() == {"incidents"}  # as the route always answered
    assert [i["id"] for i in open_now["incidents"]] == [ids[3]]
    assert open_now["incidents"][0]["ref"] == f"INC-{ids[3]}"
    first = _get(h, "/api/v1/incidents", state="all", limit="3").json()
    assert [i["id"] for i in first["incidents"]] == [ids[3], ids[2], ids[1]]
    rest = _get(h, "/api/v1/incidents", state="all", limit="3", cursor=first["next_cursor"]).json()
    assert [i["id"] for i in rest["incidents"]] == [ids[0]] and "next_cursor" not in rest
    p1_march = _get(h, "/api/v1/incidents", state="all", priority="P1", since="2026-03-01",
                    until="2026-04-01").json()
    assert [i["id"] for i in p1_march["incidents"]] == [ids[2], ids[1]]
    assert _get(h, "/api/v1/incidents", state="all", team="nobody").json()["incidents"] == []


def test_one_incident_with_its_record(h: Harness) -> None:
    ids = _history(h)
    answer = _get(h, f"/api/v1/incidents/{ids[1]}")
    assert answer.status_code == 200
    body = answer.json()
    assert (body["priority"], body["state"], body["acknowledged_by"]) == ("P1", "resolved", "alice")
    kinds = [e["kind"] for e in body["timeline"]]
    assert "declared" in kinds[0] and "acknowledged" in kinds and "resolved" in kinds
    assert body["pages"] and all(p["status"] for p in body["pages"])
    assert body["alerts"] == [] and body["tickets"] == [] and body["action_items"] == []
    assert _get(h, "/api/v1/incidents/9999").status_code == 404


def test_metrics_are_the_workflow_numbers(h: Harness) -> None:
    _history(h)
    since, until = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 5, 1, tzinfo=UTC)
    body = _get(h, "/api/v1/insights/response-times", since=since.isoformat(),
                until=until.isoformat(), by="month").json()
    expected = insights.rows_json(insights.response_times(
        h.firebell.ctx, since=since, until=until, by="month"))
    assert body["rows"] == expected and body["by"] == "month"
    march_p1 = next(r for r in body["rows"]
                    if (r["period"], r["dimension"], r["group"]) == ("2026-03", "priority", "P1"))
    assert (march_p1["incidents"], march_p1["tta"]["mean"], march_p1["ttr"]["mean"]) == (2, 210, 2700)
    frequency = _get(h, "/api/v1/insights/frequency", since="2026-03-01", until="2026-05-01",
                     by="month").json()["rows"]
    assert {(r["period"], r["priority"]): r["incidents"] for r in frequency} == {
        ("2026-03", "P1"): 2, ("2026-03", "P2"): 1, ("2026-04", "P1"): 0, ("2026-04", "P2"): 1}
    for kind in ("repeats", "pages-per-night"):
        answer = _get(h, f"/api/v1/insights/{kind}", since="2026-03-01", until="2026-05-01")
        assert answer.status_code == 200 and isinstance(answer.json()["rows"], list)


@pytest.mark.parametrize(("path", "params", "named"), [
    ("/api/v1/incidents", {"state": "sometimes"}, "state"),
    ("/api/v1/incidents", {"limit": "many"}, "limit"),
    ("/api/v1/incidents", {"limit": "0"}, "limit"),
    ("/api/v1/incidents", {"cursor": "xyz"}, "cursor"),
    ("/api/v1/incidents", {"since": "yesterday-ish"}, "since"),
    ("/api/v1/incidents", {"colour": "red"}, "colour"),
    ("/api/v1/insights/frequency", {"by": "year"}, "by"),
    ("/api/v1/insights/response-times", {"since": "2026-05-01", "until": "2026-04-01"}, "since"),
    ("/api/v1/insights/repeats", {"by": "week"}, "by"),
])
def test_bad_parameters_are_a_400_naming_them(h: Harness, path: str, params: dict[str, str],
                                              named: str) -> None:
    answer = _get(h, path, **params)
    assert answer.status_code == 400
    assert named in answer.json()["error"]


def test_unknown_insight_and_missing_token(h: Harness) -> None:
    assert _get(h, "/api/v1/insights/happiness").status_code == 404
    assert httpx.get(h.server.url + "/api/v1/insights/frequency", timeout=10).status_code == 401
