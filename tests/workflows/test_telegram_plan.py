"""The `telegram` channel in the catalog and in a person's notification plan: it needs the
person's `telegram_chat_id`, as SMS needs a phone number; a bare SMS "1" never acknowledges a
test page while a real page waits."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.support.catalogs import paging_catalog
from workflows.catalog.load import parse_catalog
from workflows.catalog.sections import CatalogError
from workflows.model import Incident
from workflows.paging.delivery import notification_plan

WITH_TELEGRAM = (
    paging_catalog()
    .replace('slack: UALICE, phone: "+15550100001"}',
             'slack: UALICE, phone: "+15550100001", telegram_chat_id: 1001}')
    .replace('slack: UBOB, phone: "+15550100002"}',
             'slack: UBOB, phone: "+15550100002", telegram_chat_id: 1002,'
             ' notify: [{channel: telegram}, {channel: sms, after: 2m}]}')
    .replace("channels: [sms, chat], update_every: 20m",
             "channels: [telegram, chat], update_every: 20m")
)


def _p2() -> Incident:
    return Incident(title="Checkout is slow", service="checkout", team="payments",
                    severity="major", urgency="high", environment="production", priority="P2",
                    declared_at=datetime(2026, 11, 24, 9, 30, tzinfo=UTC))


@pytest.mark.parametrize(("person", "channels"), [
    ("alice", [("telegram", 0), ("chat", 0)]),  # the priority's channels
    ("bob", [("telegram", 0), ("sms", 120)]),  # his own rule
    ("carol", [("chat", 0)]),  # no telegram_chat_id: skipped for telegram
])
def test_telegram_goes_to_people_with_a_chat_id(person: str, channels: list[tuple[str, int]]
                                                ) -> None:
    catalog = parse_catalog(WITH_TELEGRAM)
    assert 'telegram_chat_id: 1001' in WITH_TELEGRAM and "[telegram, chat]" in WITH_TELEGRAM
    plan = notification_plan(catalog, incident=_p2(), person=catalog.person(person),
                             available=frozenset({"chat", "sms", "telegram"}))
    assert [(p.channel, p.delay_seconds) for p in plan] == channels


def test_without_a_telegram_pager_telegram_is_skipped() -> None:
    catalog = parse_catalog(WITH_TELEGRAM)
    plan = notification_plan(catalog, incident=_p2(), person=catalog.person("alice"),
                             available=frozenset({"chat"}))
    assert [p.channel for p in plan] == ["chat"]


def test_a_chat_id_is_a_number() -> None:
    with pytest.raises(CatalogError, match="telegram_chat_id"):
        parse_catalog(WITH_TELEGRAM.replace("telegram_chat_id: 1001", "telegram_chat_id: alice"))
