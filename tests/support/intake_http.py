"""The intake endpoints in a test client: a `World`'s context behind Firebell's webhook routes,
and an Alertmanager webhook body."""

from __future__ import annotations

import json
from types import SimpleNamespace

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.testclient import TestClient

from bot.webhooks import webhook_routes
from tests.support.world import World

TOKEN = "s3cret-token-for-tests"


def am_body(fingerprint: str = "abc123", status: str = "firing", **labels: str) -> dict:
    values = {"alertname": "HighErrorRate", "service": "checkout", "severity": "critical"}
    values.update(labels)
    return {
        "version": "4", "groupKey": "{}:{alertname=\"HighErrorRate\"}", "truncatedAlerts": 0,
        "status": status, "receiver": "firebell", "groupLabels": {"alertname": "HighErrorRate"},
        "commonLabels": values, "commonAnnotations": {}, "externalURL": "http://am:9093",
        "alerts": [{
            "status": status, "labels": values,
            "annotations": {"summary": "5xx above 5%", "runbook_url": "https://runbooks.example/x"},
            "startsAt": "2026-11-24T09:29:00Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph?g0.expr=x", "fingerprint": fingerprint,
        }],
    }


class Http:
    def __init__(self, world: World, token: str | None = TOKEN) -> None:
        self.world = world
        firebell = SimpleNamespace(ctx=world.ctx, settings=SimpleNamespace(firebell_webhook_token=token))
        self.client = TestClient(Starlette(routes=webhook_routes(firebell)))  # type: ignore[arg-type]

    def post(self, path: str, body: object, token: str | None = TOKEN, **headers: str):  # type: ignore[no-untyped-def]
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return self.client.post(path, content=data, headers=headers)

    def signals(self) -> int:
        with self.world.ctx.store.engine.connect() as c:  # type: ignore[attr-defined]
            return int(c.execute(text("SELECT count(*) FROM signals")).scalar_one())
