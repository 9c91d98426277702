"""The `push` channel in the catalog and in a person's notification plan: it needs an ntfy topic
or a Pushover user key, as SMS needs a phone number."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.support.catalogs import paging_catalog
from workflows.catalog.load import parse_catalog
from workflows.catalog.sections import CatalogError
from workflows.model import Incident
from workflows.paging.delivery import notification_plan

TOPIC = "firebell-alice-3f9c2b7e1d"
PUSHOVER_KEY = "uQiRzpo4DXghDmr9QzzfQu27cmVRsG"
WITH_PUSH = (
    paging_catalog()
    .replace('slack: UALICE, phone: "+15550100001"}',
             f'slack: UALICE, phone: "+15550100001", ntfy_topic: {TOPIC}}}')
    .replace('slack: UBOB, phone: "+15550100002"}',
             f'slack: UBOB, phone: "+15550100002", pushover_user: {PUSHOVER_KEY}}}')
    .replace("channels: [sms, chat], update_every: 20m", "channels: [push, chat], update_every: 20m")
)


def _p2() -> Incident:
    return Incident(title="Checkout is slow", service="checkout", team="payments",
                    severity="major", urgency="high", environment="production", priority="P2",
                    declared_at=datetime(2026, 11, 24, 9, 30, tzinfo=UTC))


@pytest.mark.parametrize(("person", "channels"), [
    ("alice", ["push", "chat"]),  # an ntfy topic
    ("bob", ["push", "chat"]),  # a Pushover key
    ("carol", ["chat"]),  # neither: skipped for push, as a person without a phone is for sms
])
def test_push_goes_to_people_with_a_topic_or_a_pushover_key(person: str, channels: list[str]) -> None:
    catalog = parse_catalog(WITH_PUSH)
    plan = notification_plan(catalog, incident=_p2(), person=catalog.person(person),
                             available=frozenset({"chat", "sms", "push"}))
    assert [p.channel for p in plan] == channels


def test_without_a_push_pager_push_is_skipped() -> None:
    catalog = parse_catalog(WITH_PUSH)
    plan = notification_plan(catalog, incident=_p2(), person=catalog.person("alice"),
                             available=frozenset({"chat"}))
    assert [p.channel for p in plan] == ["chat"]


def test_push_in_a_personal_rule() -> None:
    text = WITH_PUSH.replace(f"ntfy_topic: {TOPIC}}}",
                             f"ntfy_topic: {TOPIC}, notify: [{{channel: push}}, "
                             "{channel: sms, after: 2m}]}")
    catalog = parse_catalog(text)
    plan = notification_plan(catalog, incident=_p2(), person=catalog.person("alice"),
                             available=frozenset({"chat", "sms", "push"}))
    assert [(p.channel, p.delay_seconds) for p in plan] == [("push", 0), ("sms", 120)]


@pytest.mark.parametrize(("field", "value", "says"), [
    ("ntfy_topic", "has spaces in it", "ntfy_topic"),
    ("ntfy_topic", "x" * 65, "ntfy_topic"),
    ("pushover_user", "short", "pushover_user"),
])
def test_a_bad_topic_or_key_is_named(field: str, value: str, says: str) -> None:
    text = WITH_PUSH.replace(f"ntfy_topic: {TOPIC}", f'{field}: "{value}"')
    with pytest.raises(CatalogError) as raised:
        parse_catalog(text)
    assert says in str(raised.value)
