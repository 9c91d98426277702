"""The OpenAPI 3.1 document of Firebell's JSON API (`GET /api/v1/openapi.json`).

Written by hand as data: tests/e2e/test_openapi.py checks that it names exactly the `/api/v1/`
routes the server has, that it is valid OpenAPI, and that real answers fit its schemas.
"""

from __future__ import annotations

from typing import Any

_STR = {"type": "string"}
_NSTR = {"type": ["string", "null"]}
_TIME = {"type": "string", "format": "date-time"}
_NTIME = {"type": ["string", "null"], "format": "date-time"}
_INT = {"type": "integer"}
_NNUM = {"type": ["number", "null"]}


def _object(properties: dict[str, Any], *, required: list[str] | None = None) -> dict[str, Any]:
    return {"type": "object", "properties": properties,
            "required": list(properties) if required is None else required}


def _query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema or _STR}


def _path(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema,
            "description": description}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


_ERROR = _json(_ref("Error"), "a bad parameter, named in `error`")
_UNAUTHORIZED = _json(_ref("Error"), "missing or wrong bearer token")
_NOT_FOUND = _json(_ref("Error"), "no such thing")
_SINCE = _query("since", "ISO date or time; without a zone, the catalog's (default: 90 days "
                "before until)", {"type": "string", "examples": ["2026-03-01"]})
_UNTIL = _query("until", "ISO date or time; without a zone, the catalog's (default: now)")
_BY = _query("by", "periods: ISO weeks or calendar months of local dates in the catalog's zone",
             {"type": "string", "enum": ["week", "month"], "default": "week"})

_STAT = _object({"count": _INT, "mean": _NNUM, "median": _NNUM, "p90": _NNUM})
_ROWS: dict[str, dict[str, Any]] = {
    "response-times": _object({
        "period": _STR, "start": {"type": "string", "format": "date"},
        "dimension": {"type": "string", "enum": ["all", "priority", "team"]}, "group": _STR,
        "incidents": _INT, "ttd": _ref("Stat"), "tta": _ref("Stat"), "ttm": _ref("Stat"),
        "ttr": _ref("Stat")}),
    "frequency": _object({"period": _STR, "start": {"type": "string", "format": "date"},
                          "priority": _STR, "incidents": _INT}),
    "repeats": _object({"kind": {"type": "string", "enum": ["cause", "alert"]}, "cause": _STR,
                        "service": _STR, "incidents": _INT, "repeats": _INT,
                        "incident_ids": {"type": "array", "items": _INT},
                        "last_declared_at": _TIME}),
    "pages-per-night": _object({"person": _STR, "name": _STR,
                                "night": {"type": "string", "format": "date"},
                                "pages": _INT, "bad": {"type": "boolean"}}),
}
_INSIGHT_TEXT = {
    "response-times": "TTD (first alert's start to declared), TTA, TTM, TTR (declared to "
                      "acknowledged, mitigated, resolved) in seconds: count, mean, median, p90, "
                      "per period for all incidents, per priority and per team. An incident "
                      "counts in the period it was declared; drills never count.",
    "frequency": "incidents declared per period and priority, empty periods included",
    "repeats": "incidents sharing a postmortem cause tag or an alert fingerprint on one "
               "service; `repeats`: those within the catalog's repeat window of an earlier one",
    "pages-per-night": "pages per person and night (22:00-07:00 in their zone, by the night's "
                       "first date); `bad`: more than two",
}

_INCIDENT = _object({
    "id": _INT, "ref": _STR, "title": _STR, "service": _STR, "team": _STR, "priority": _STR,
    "severity": _STR, "urgency": _STR, "environment": _STR,
    "state": {"type": "string", "enum": ["triggered", "acknowledged", "mitigated", "resolved",
                                         "closed"]},
    "stage": _STR, "channel": _NSTR, "drill": {"type": "boolean"},
    "roles": {"type": "object", "additionalProperties": _STR},
    "declared_at": _TIME, "declared_by": _NSTR, "acknowledged_at": _NTIME,
    "acknowledged_by": _NSTR, "mitigated_at": _NTIME, "resolved_at": _NTIME,
    "closed_at": _NTIME, "ticket": _NSTR,
})
_DETAIL = {"allOf": [_ref("Incident"), _object({
    "description": _STR,
    "timeline": {"type": "array", "items": _object(
        {"at": _TIME, "kind": _STR, "text": _STR, "actor": _NSTR})},
    "pages": {"type": "array", "items": _object(
        {"person": _STR, "channel": _STR, "status": _STR, "step": _INT, "round": _INT,
         "created_at": _TIME, "sent_at": _NTIME})},
    "alerts": {"type": "array", "items": _object(
        {"source": _STR, "dedup_key": _STR, "rule": _STR, "summary": _STR, "status": _STR,
         "first_seen": _TIME, "starts_at": _NTIME, "resolved_at": _NTIME})},
    "tickets": {"type": "array", "items": _STR},
    "postmortem": {"oneOf": [{"type": "null"}, _object(
        {"state": _STR, "cause": _NSTR, "due_at": _NTIME, "published_at": _NTIME})]},
    "action_items": {"type": "array", "items": _object(
        {"ref": _STR, "title": _STR, "owner": _STR, "state": _STR,
         "due_on": {"type": "string", "format": "date"}, "ticket": _NSTR})},
})]}
_PERSON = _object({"id": _STR, "name": _NSTR})


def _get(summary: str, responses: dict[str, Any], parameters: list[Any] | None = None,
         *, public: bool = False) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": summary, "parameters": parameters or [],
                                 "responses": responses}
    if public:
        operation["security"] = []
    else:
        operation["responses"] = {**responses, "401": _UNAUTHORIZED}
    return {"get": operation}


def _paths() -> dict[str, Any]:
    paths: dict[str, Any] = {
        "/api/v1/incidents": _get(
            "Incidents, newest first, a page at a time",
            {"200": _json(_object({"incidents": {"type": "array", "items": _ref("Incident")},
                                   "next_cursor": _STR}, required=["incidents"]),
                          "incidents; `next_cursor`, absent on the last page, asks for the next"),
             "400": _ERROR},
            [_query("state", "open (default) or all, past ones too",
                    {"type": "string", "enum": ["open", "all"], "default": "open"}),
             _query("team", "team id"), _query("service", "service id"),
             _query("priority", "P1..P4"),
             _query("since", "declared at or after (ISO date or time)"),
             _query("until", "declared before (ISO date or time)"),
             _query("limit", "at most this many (1-500)",
                    {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}),
             _query("cursor", "`next_cursor` of the previous page")]),
        "/api/v1/incidents/{incident}": _get(
            "One incident with its timeline, roles, pages, alerts, tickets, postmortem and "
            "action items",
            {"200": _json(_ref("IncidentDetail"), "the incident"), "404": _NOT_FOUND},
            [_path("incident", {"type": "integer"}, "the incident's number (12 for INC-12)")]),
        "/api/v1/incidents/{incident}/postmortem": _get(
            "The postmortem as Markdown",
            {"200": {"description": "Markdown",
                     "content": {"text/markdown": {"schema": _STR}}},
             "400": _ERROR, "404": _NOT_FOUND, "422": _json(_ref("Error"), "cannot render")},
            [_path("incident", _STR, "12, #12 or INC-12")]),
        "/api/v1/oncall": _get(
            "Who is on call now and next, per schedule",
            {"200": _json(_object({"at": _TIME, "oncall": {"type": "array", "items": _object({
                "schedule": _STR, "team": _STR,
                "now": {"type": "array", "items": _PERSON}, "next_at": _NTIME,
                "next": {"type": "array", "items": _PERSON},
                "layers": {"type": "array", "items": _object({
                    "layer": _STR, "now": {"type": "array", "items": _PERSON},
                    "next_at": _NTIME, "next": {"type": "array", "items": _PERSON}})}})}}),
                "on call"), "400": _ERROR},
            [_query("schedule", "schedule id or name"), _query("team", "team id or name"),
             _query("service", "service id or name"), _query("at", "ISO time (default: now)")]),
        "/api/v1/reports/paging": _get(
            "Pages per person and night, acknowledgement times",
            {"200": _json(_object({"since": _TIME, "until": _TIME, "people": {
                "type": "array", "items": {"type": "object"}}}), "the paging report"),
             "400": _ERROR},
            [_query("since", "ISO date or time (default: 30 days ago)"),
             _query("until", "ISO date or time (default: now)")]),
        "/api/v1/reports/noise": _get(
            "Signals, alerts, acknowledged and self-resolved per alert rule",
            {"200": _json(_object({"rules": {"type": "array", "items": _object({
                "rule": _STR, "service": _NSTR, "signals": _INT, "alerts": _INT,
                "acknowledged": _INT, "auto_resolved": _INT, "flapping": _INT})}}),
                "the noise report"), "400": _ERROR},
            [_query("since", "ISO date or time (default: 30 days ago)"),
             _query("until", "ISO date or time (default: now)")]),
        "/api/v1/reports/oncall.csv": _get(
            "On-call hours for compensation, as CSV",
            {"200": {"description": "CSV", "content": {"text/csv": {"schema": _STR}}},
             "400": {"description": "a bad parameter",
                     "content": {"text/plain": {"schema": _STR}}}},
            [_query("from", "ISO date or time (default: 30 days ago)"),
             _query("to", "ISO date or time (default: now)"),
             _query("schedule", "schedule"), _query("team", "team"),
             _query("service", "service")]),
        "/api/v1/contact.vcf": _get(
            "Firebell's outbound numbers as a contact card (no token needed)",
            {"200": {"description": "vCard", "content": {"text/vcard": {"schema": _STR}}},
             "404": {"description": "no numbers configured"}}, public=True),
        "/api/v1/openapi.json": _get(
            "This document", {"200": _json({"type": "object"}, "OpenAPI 3.1")}),
        "/api/v1/insights/{kind}": _get(
            "An insight metric: " + "; ".join(f"{k}: {v}" for k, v in _INSIGHT_TEXT.items()),
            {"200": _json({"anyOf": [_ref(_schema_name(kind)) for kind in _ROWS]},
                          "the rows of the metric: " + ", ".join(
                              f"{kind}: {_schema_name(kind)}" for kind in _ROWS)),
             "400": _ERROR, "404": _NOT_FOUND},
            [_path("kind", {"type": "string", "enum": list(_ROWS)}, "which metric"),
             _SINCE, _UNTIL,
             _query("by", "response-times and frequency only: " + _BY["description"],
                    _BY["schema"])]),
    }
    return paths


def _schema_name(kind: str) -> str:
    return "Insight" + "".join(part.title() for part in kind.split("-"))


def insight_schema(kind: str) -> dict[str, Any]:
    """The schema of `/api/v1/insights/{kind}`'s answer."""
    return _ref(_schema_name(kind))


def document() -> dict[str, Any]:
    schemas: dict[str, Any] = {
        "Error": _object({"error": _STR}), "Stat": _STAT, "Incident": _INCIDENT,
        "IncidentDetail": _DETAIL,
    }
    for kind, row in _ROWS.items():
        schemas[_schema_name(kind)] = _object(
            {"since": _TIME, "until": _TIME, "zone": _STR,
             "by": {"type": "string", "enum": ["week", "month"]},
             "rows": {"type": "array", "items": row}},
            required=["since", "until", "zone", "rows"] + (["by"] if kind in (
                "response-times", "frequency") else []))
    return {
        "openapi": "3.1.0",
        "info": {"title": "Firebell JSON API", "version": "1",
                 "description": "Read-only JSON API of a Firebell: incidents, on call, reports "
                                "and insight metrics. Every route needs "
                                "`Authorization: Bearer <FIREBELL_API_TOKEN>` unless it says "
                                "otherwise."},
        "security": [{"bearer": []}],
        "paths": _paths(),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "FIREBELL_API_TOKEN"}},
            "schemas": schemas,
        },
    }
