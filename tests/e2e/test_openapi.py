"""`GET /api/v1/openapi.json`: valid OpenAPI 3.1, naming exactly the server's `/api/v1/` routes,
and real answers of every documented JSON route fit the schema it documents."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from openapi_spec_validator import validate
from starlette.routing import Route

from bot.openapi import insight_schema
from bot.server import build_http_app
from tests.support.api import API_START
from tests.support.api import api_get as _get
from tests.support.slack_helpers import Harness
from workflows.clock import FakeClock
from workflows.incident.declare import DeclareRequest, declare

START = API_START


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path, clock=FakeClock(START))
    yield harness
    harness.close()




def _document(h: Harness) -> dict[str, Any]:
    answer = _get(h, "/api/v1/openapi.json")
    assert answer.status_code == 200
    return answer.json()  # type: ignore[no-any-return]


def test_the_document_is_valid_openapi_31(h: Harness) -> None:
    document = _document(h)
    assert document["openapi"].startswith("3.1")
    validate(document)
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "description": "FIREBELL_API_TOKEN"}


def test_every_api_route_is_documented_and_nothing_else(h: Harness) -> None:
    app = build_http_app(h.firebell)
    served = {re.sub(r"\{(\w+):\w+\}", r"{\1}", r.path) for r in app.routes
              if isinstance(r, Route) and r.path.startswith("/api/v1/")}
    assert served == set(_document(h)["paths"])
    for path, item in _document(h)["paths"].items():
        declared = {p["name"] for p in item["get"]["parameters"] if p["in"] == "path"}
        assert declared == set(re.findall(r"\{(\w+)\}", path)), path


def test_real_answers_fit_their_schemas(h: Harness) -> None:
    incident = declare(h.firebell.ctx, DeclareRequest(
        title="Checkout slow", service="checkout", severity="critical", urgency="high"))
    document = _document(h)
    calls = [
        ("/api/v1/incidents", {}, "/api/v1/incidents"),
        ("/api/v1/incidents", {"state": "all", "limit": "1"}, "/api/v1/incidents"),
        (f"/api/v1/incidents/{incident.id}", {}, "/api/v1/incidents/{incident}"),
        ("/api/v1/oncall", {}, "/api/v1/oncall"),
        ("/api/v1/reports/paging", {}, "/api/v1/reports/paging"),
        ("/api/v1/reports/noise", {}, "/api/v1/reports/noise"),
        ("/api/v1/openapi.json", {}, "/api/v1/openapi.json"),
        *[(f"/api/v1/insights/{kind}", {"since": "2026-03-01", "until": "2026-04-01"},
           "/api/v1/insights/{kind}")
          for kind in ("response-times", "frequency", "repeats", "pages-per-night")],
        ("/api/v1/incidents", {"state": "never"}, "/api/v1/incidents"),
        ("/api/v1/incidents/424242", {}, "/api/v1/incidents/{incident}"),
    ]
    for path, params, documented in calls:
        answer = _get(h, path, **params)
        responses = document["paths"][documented]["get"]["responses"]
        assert str(answer.status_code) in responses, (path, answer.status_code)
        schema = responses[str(answer.status_code)]["content"]["application/json"]["schema"]
        if documented.endswith("{kind}") and answer.status_code == 200:  # the kind's own rows
            kind = path.rsplit("/", 1)[1]
            schema = insight_schema(kind)
        jsonschema.validate(answer.json(), {**schema, "components": document["components"]},
                            cls=jsonschema.Draft202012Validator)
    rows = _get(h, "/api/v1/insights/response-times", since="2026-03-01",
                until="2026-04-01").json()["rows"]
    assert rows, "a real row was checked against the schema"


def test_a_wrong_answer_would_not_fit(h: Harness) -> None:
    """The schemas are strict enough to catch a changed field."""
    document = _document(h)
    schema = document["components"]["schemas"]["Incident"]
    declare(h.firebell.ctx, DeclareRequest(title="x", service="checkout", severity="critical",
                                           urgency="high"))
    body = _get(h, "/api/v1/incidents").json()["incidents"][0]
    del body["priority"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(body, {**schema, "components": document["components"]})
