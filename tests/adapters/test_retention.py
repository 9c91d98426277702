"""Retention: the scheduler's poll prunes exactly what is past its retention, in batches, and
keeps the rest (on SQLite and PostgreSQL)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from sqlalchemy import insert, select

from app import prune_history
from bot.slack.replays import KEEP, Answer, SlackReplays
from storage import retention
from storage.effect_tables import EffectRow, RequestSeenRow
from storage.intake_tables import WebhookDeliveryRow
from storage.request_log import SqlRequestLog
from storage.store import SqlStore
from tests.support.slack_helpers import SIGNING_SECRET, signature_headers

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def _effect(key: str, *, kind: str = "post", status: str = "done",
            done_days_ago: float | None = None) -> dict[str, object]:
    done_at = None if done_days_ago is None else NOW - timedelta(days=done_days_ago)
    return {"key": key, "incident_id": 1, "kind": kind, "payload": {}, "ordered": True,
            "status": status, "attempts": 1, "created_at": NOW - timedelta(days=200),
            "not_before": NOW - timedelta(days=200), "done_at": done_at}


def _keys(store: SqlStore, column: object) -> set[str]:
    with store.engine.connect() as connection:
        return {str(row[0]) for row in connection.execute(select(column))}  # type: ignore[call-overload]


def test_effects_done_or_failed_long_ago_are_pruned_in_batches_and_the_rest_kept(
    store: SqlStore,
) -> None:
    with store.engine.begin() as connection:
        connection.execute(insert(EffectRow), [
            _effect("post:old1", done_days_ago=8),
            _effect("post:old2", done_days_ago=30),
            _effect("page:old", kind="page", done_days_ago=8),
            _effect("post:failed", status="failed", done_days_ago=7.5),
            _effect("direct:old", kind="direct", done_days_ago=9),
            _effect("post:recent", done_days_ago=6.9),
            _effect("page:pending", kind="page", status="pending"),  # never done: kept
            _effect("offer:7", done_days_ago=60),  # a post a later edit may still target
            _effect("offer:3", done_days_ago=91),  # past even that
        ])

    pruned = retention.prune(store.engine, now=NOW, batch=2)

    assert pruned.effects == 6
    assert _keys(store, EffectRow.key) == {"post:recent", "page:pending", "offer:7"}


def test_webhook_deliveries_older_than_a_week_are_pruned_and_a_recent_redelivery_refused(
    store: SqlStore,
) -> None:
    with store.engine.begin() as connection:
        connection.execute(insert(WebhookDeliveryRow), [
            {"system": "jira", "delivery_id": "old", "received_at": NOW - timedelta(days=8)},
            {"system": "jira", "delivery_id": "new", "received_at": NOW - timedelta(days=6)},
        ])

    assert retention.prune(store.engine, now=NOW).deliveries == 1

    assert _keys(store, WebhookDeliveryRow.delivery_id) == {"new"}
    with store.transaction() as tx:
        assert not tx.intake().first_delivery(system="jira", delivery_id="new", at=NOW)
        assert tx.intake().first_delivery(system="jira", delivery_id="old", at=NOW)


def test_answered_slack_requests_are_forgotten_after_the_replay_window_not_before(
    store: SqlStore,
) -> None:
    clock = [NOW]
    replays = SlackReplays(requests=SqlRequestLog(store.engine), signing_secret=SIGNING_SECRET,
                           now=lambda: clock[0])
    handled: list[str] = []

    def send(text: str, *, signed_at: datetime) -> Answer:
        body = urlencode({"command": "/incident", "text": text})
        headers = {k.lower(): v for k, v in signature_headers(
            body, timestamp=int(signed_at.timestamp())).items()}
        return replays.answer(body=body.encode(), headers=headers,
                              handle=lambda: handled.append(text) or Answer(200, f"did {text}"))

    assert send("ack", signed_at=NOW) == Answer(200, "did ack")
    clock[0] = NOW + timedelta(minutes=4)
    send("list", signed_at=clock[0])
    # The scheduler's poll inside the window forgets nothing: the replay is still refused.
    prune_history(store, now=clock[0])
    assert send("ack", signed_at=NOW) == Answer(200, "did ack")
    assert handled == ["ack", "list"]
    # The claims and answers are written after the acks, on the log's writer thread.
    deadline = time.monotonic() + 10
    while len(_keys(store, RequestSeenRow.key)) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(_keys(store, RequestSeenRow.key)) == 2

    prune_history(store, now=NOW + KEEP + timedelta(seconds=1))
    with store.engine.connect() as connection:
        left = list(connection.execute(select(RequestSeenRow.seen_at)))  # type: ignore[call-overload]
    assert len(left) == 1  # the first is forgotten, the one seen 4 minutes later is not


def test_a_backlog_of_requests_is_pruned_whole_batch_after_batch(store: SqlStore) -> None:
    with store.engine.begin() as connection:
        connection.execute(insert(RequestSeenRow), [
            {"key": f"signed:{n}", "seen_at": NOW - timedelta(hours=2, seconds=n), "status": 200,
             "body": "", "content_type": ""} for n in range(25)
        ] + [{"key": "signed:fresh", "seen_at": NOW, "status": 200, "body": "",
              "content_type": ""}])

    assert SqlRequestLog(store.engine).prune(before=NOW - timedelta(hours=1), batch=4) == 25
    assert _keys(store, RequestSeenRow.key) == {"signed:fresh"}
