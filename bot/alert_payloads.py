"""Wire formats of alert sources -> `Signal`s: Alertmanager's webhook (version 4), Grafana's
variant of it, and PagerDuty's Events API v2. A malformed body is an `InvalidRequest` saying why."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any

from workflows.intake.signals import Action, Signal
from workflows.ports import InvalidRequest
from workflows.times import parse_time

MAX_ALERTS = 1000  # per webhook; Alertmanager's `max_alerts` truncates well below this
_PD_SEVERITIES = ("critical", "error", "warning", "info")
_PD_ACTIONS = {"trigger": Action.TRIGGER, "acknowledge": Action.ACKNOWLEDGE,
               "resolve": Action.RESOLVE}


def _strings(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidRequest(f"{where} must be an object of strings")
    out = {}
    for key, item in value.items():
        if not isinstance(item, str | int | float | bool):
            raise InvalidRequest(f"{where}.{key} must be a string")
        out[str(key)] = str(item).lower() if isinstance(item, bool) else str(item)
    return out


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value or value.startswith("0001-"):
        return None
    try:
        return parse_time(value, zone="UTC", what="the alert's time")  # vendors send UTC
    except InvalidRequest:
        return None  # a time the sender got wrong is not a reason to lose its alert


def _url(value: Any) -> str | None:
    return value if isinstance(value, str) and value.startswith(("http://", "https://")) else None


def alertmanager_signals(body: Any, *, integration: str) -> list[Signal]:
    """Alertmanager's webhook (version "4"), or Grafana's (with `orgId`, alerts with dashboards)."""
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object")
    grafana = "orgId" in body or "dashboardURL" in str(body.get("alerts", ""))[:100_000]
    version = str(body.get("version", ""))
    if not grafana and version != "4":
        raise InvalidRequest(f"payload version {version!r} is not supported: Firebell reads "
                             "Alertmanager's version 4")
    alerts = body.get("alerts")
    if not isinstance(alerts, list) or not alerts:
        raise InvalidRequest("`alerts` must be a non-empty list")
    if len(alerts) > MAX_ALERTS:
        raise InvalidRequest(f"at most {MAX_ALERTS} alerts per webhook")
    source = "grafana" if grafana else "alertmanager"
    return [_alert(a, i, source, integration, body) for i, a in enumerate(alerts)]


def _alert(alert: Any, index: int, source: str, integration: str, body: dict[str, Any]) -> Signal:
    where = f"alerts[{index}]"
    if not isinstance(alert, dict):
        raise InvalidRequest(f"{where} must be an object")
    labels = _strings(alert.get("labels"), f"{where}.labels")
    annotations = _strings(alert.get("annotations"), f"{where}.annotations")
    status = alert.get("status", body.get("status"))
    if status not in ("firing", "resolved"):
        raise InvalidRequest(f"{where}.status must be 'firing' or 'resolved'")
    fingerprint = alert.get("fingerprint")
    if not isinstance(fingerprint, str) or not fingerprint:
        if not labels:
            raise InvalidRequest(f"{where} has neither a fingerprint nor labels")
        fingerprint = hashlib.sha256(repr(sorted(labels.items())).encode()).hexdigest()[:16]
    links = [(label, _url(alert.get(key)) or _url(annotations.get(key)))
             for label, key in (("Alert", "generatorURL"), ("Dashboard", "dashboardURL"),
                                ("Panel", "panelURL"), ("Runbook", "runbook_url"),
                                ("Silence", "silenceURL"))]
    return Signal(
        source=source, integration=integration,
        action=Action.TRIGGER if status == "firing" else Action.RESOLVE,
        dedup_key=fingerprint[:255], labels=labels,
        summary=(annotations.get("summary") or annotations.get("title")
                 or labels.get("alertname") or "alert")[:500],
        description=(annotations.get("description") or annotations.get("message") or "")[:4000],
        starts_at=_time(alert.get("startsAt")),
        links=tuple((label, url) for label, url in links if url),
        payload={"alert": alert, "receiver": body.get("receiver"), "groupKey": body.get("groupKey")},
    )


def pagerduty_signal(body: Any, *, integration: str) -> Signal:
    """One PagerDuty Events API v2 event (trigger / acknowledge / resolve)."""
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object")
    action = _PD_ACTIONS.get(str(body.get("event_action")))
    if action is None:
        raise InvalidRequest("'event_action' must be one of trigger, acknowledge, resolve")
    key = body.get("dedup_key")
    if key is not None and (not isinstance(key, str) or not key or len(key) > 255):
        raise InvalidRequest("'dedup_key' must be a string of 1 to 255 characters")
    if action != Action.TRIGGER:
        if key is None:
            raise InvalidRequest(f"'dedup_key' is required to {action.value}")
        return Signal(source="pagerduty", integration=integration, action=action,
                      dedup_key=key, payload={"event": _without_key(body)})
    payload = body.get("payload")
    if not isinstance(payload, dict):
        raise InvalidRequest("'payload' is required to trigger")
    summary, origin, severity = payload.get("summary"), payload.get("source"), payload.get("severity")
    if not isinstance(summary, str) or not summary.strip() or len(summary) > 1024:
        raise InvalidRequest("'payload.summary' must be a string of 1 to 1024 characters")
    if not isinstance(origin, str) or not origin.strip():
        raise InvalidRequest("'payload.source' is required")
    if severity not in _PD_SEVERITIES:
        raise InvalidRequest("'payload.severity' must be one of " + ", ".join(_PD_SEVERITIES))
    details = payload.get("custom_details")
    labels = {k: v for k, v in _scalars(details).items()}
    for field in ("component", "group", "class"):
        if isinstance(payload.get(field), str):
            labels.setdefault(field, payload[field])
    labels["source"], labels["severity"] = origin, str(severity)
    # Which intake token took it, so a service can `match` it (an imported PagerDuty service
    # matches the integration its integration key became).
    labels["integration"] = integration
    if "service" not in labels and "component" in labels:
        labels["service"] = labels["component"]
    raw_links = body.get("links")
    links: list[Any] = raw_links if isinstance(raw_links, list) else []
    return Signal(
        source="pagerduty", integration=integration, action=action,
        dedup_key=key or uuid.uuid4().hex, labels=labels, summary=summary[:500],
        starts_at=_time(payload.get("timestamp")),
        links=tuple((str(link.get("text") or "Link"), url) for link in links
                    if isinstance(link, dict) and (url := _url(link.get("href")))),
        payload={"event": _without_key(body)},
    )


def _scalars(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items() if isinstance(v, str | int | float)
            and not isinstance(v, bool)}


def _without_key(body: dict[str, Any]) -> dict[str, Any]:
    # The routing key is a credential: it is not kept with the signal.
    return {k: v for k, v in body.items() if k != "routing_key"}
