"""Schedule changes through `/oncall` on both databases: override, swap, cover, history, undo.

Driven through `bot.commands` (the words every chat front-end shares) with in-memory chat and a
fake clock; the Slack HTTP path of the same words is in tests/e2e/test_schedule_slack.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from storage.store import SqlStore
from tests.support.world import World
from workflows.catalog.load import parse_catalog
from workflows.oncall.changes import sync_catalog
from workflows.oncall.handoffs import schedule_tick
from workflows.ports import InvalidRequest

CATALOG = """
timezone: Europe/Berlin
business_hours: {days: Mon-Fri, hours: "09:00-17:00", holidays: DE}
people:
  - {id: alice, name: Alice, slack: UALICE}
  - {id: bob, name: Bob, slack: UBOB}
  - {id: carol, name: Carol, slack: UCAROL}
  - {id: dave, name: Dave, slack: UDAVE}
teams:
  - {id: payments, name: Payments, slack_channel: CPAY}
schedules:
  - id: pay-primary
    team: payments
    rotation: {every: 1w, handoff: "Mon 09:00", start: "2026-01-05", members: [alice, carol]}
"""
# Tuesday 24 Nov 2026, 10:30 Berlin: alice's week (46 weeks after 5 Jan, an even turn).
START = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)


@pytest.fixture
def world(store: SqlStore) -> Iterator[World]:
    world = World(store, START, catalog=CATALOG, channels=())
    sync_catalog(world.ctx, source=world.ctx.catalog, at=world.clock.now())
    yield world


def test_override_wins_inside_its_window_and_is_a_version(world: World) -> None:
    assert world.on_call("pay-primary") == ["alice"]
    answer = world.say("/oncall override pay-primary @bob 11:00 2h")
    assert "version 2" in answer and "Bob" in answer
    eleven = datetime(2026, 11, 24, 10, tzinfo=UTC)  # 11:00 in Berlin
    assert world.on_call("pay-primary", at=eleven - timedelta(seconds=1)) == ["alice"]
    assert world.on_call("pay-primary", at=eleven) == ["bob"]
    assert world.on_call("pay-primary", at=eleven + timedelta(hours=2)) == ["alice"]
    history = world.say("/oncall history pay-primary")
    assert "v2" in history and "v1" in history and "Alice" in history


def test_an_override_of_an_override_wins_only_where_it_lies(world: World) -> None:
    world.say("/oncall override pay-primary bob 11:00 19:00")
    world.say("/oncall override pay-primary carol 13:00 14:00", user="UBOB")
    at = {h: datetime(2026, 11, 24, h, 30, tzinfo=UTC) for h in (10, 11, 12, 13, 18)}
    assert [world.on_call("pay-primary", at=at[h])[0] for h in (10, 11, 12, 13, 18)] == [
        "bob", "bob", "carol", "bob", "alice",
    ]  # fmt: skip


def test_cover_goes_to_the_first_taker_only(world: World) -> None:
    answer = world.say("/oncall cover 2h")  # alice is on call now: her schedule is found
    assert "Payments" in answer
    channel, message = world.chat.posts[-1]
    assert channel == "CPAY" and "needs cover" in message.text
    (button,) = message.buttons
    assert button.action == "take"
    assert "You are on call" in world.say(f"/oncall take {button.value}", user="UCAROL")
    with pytest.raises(InvalidRequest, match="Carol took that shift first"):
        world.say(f"/oncall take {button.value}", user="UBOB")
    assert world.on_call("pay-primary", at=START + timedelta(hours=1)) == ["carol"]
    assert world.on_call("pay-primary", at=START + timedelta(hours=2, minutes=1)) == ["alice"]
    assert any(person == "alice" and "Carol" in m.text for person, m in world.chat.directs)


def test_swap_offers_the_next_shift_and_the_taker_gets_all_of_it(world: World) -> None:
    world.say("/oncall swap pay-primary", user="UCAROL")  # carol's next week: Mon 30 Nov 09:00 Berlin
    (button,) = world.chat.posts[-1][1].buttons
    with pytest.raises(InvalidRequest, match="your own shift"):
        world.say(f"/oncall take {button.value}", user="UCAROL")
    world.say(f"/oncall take {button.value}", user="UDAVE")
    carol_week = datetime(2026, 12, 2, 12, tzinfo=UTC)
    assert world.on_call("pay-primary", at=carol_week) == ["dave"]
    assert world.on_call("pay-primary", at=datetime(2026, 12, 7, 8, 30, tzinfo=UTC)) == ["alice"]


def test_undo_restores_the_previous_version_and_tells_whose_shifts_changed(world: World) -> None:
    world.say("/oncall override pay-primary dave 11:00 15:00")
    world.say("/oncall override pay-primary bob 12:00 13:00")
    answer = world.say("/oncall undo pay-primary", user="UCAROL")
    assert "version 4" in answer and "back to version 2" in answer
    assert world.on_call("pay-primary", at=datetime(2026, 11, 24, 11, 30, tzinfo=UTC)) == ["dave"]
    told = {person for person, _ in world.chat.directs}
    assert told == {"bob", "dave"}
    world.say("/oncall undo pay-primary", user="UCAROL")  # walks back further, to version 1
    assert world.on_call("pay-primary", at=datetime(2026, 11, 24, 11, 30, tzinfo=UTC)) == ["alice"]
    with pytest.raises(InvalidRequest, match="nothing to undo"):
        world.say("/oncall undo pay-primary")


def test_a_catalog_reload_is_a_version_and_keeps_chat_overrides(world: World) -> None:
    world.say("/oncall override pay-primary bob 11:00 2h")
    changed = parse_catalog(CATALOG.replace("members: [alice, carol]", "members: [carol, alice]"))
    made = sync_catalog(world.ctx, source=changed, at=world.clock.now())
    assert [v.reason for v in made] == ["catalog changed"]
    assert world.on_call("pay-primary") == ["carol"]
    assert world.on_call("pay-primary", at=datetime(2026, 11, 24, 10, 30, tzinfo=UTC)) == ["bob"]
    assert sync_catalog(world.ctx, source=changed, at=world.clock.now()) == []  # same file
    world.say("/oncall undo pay-primary")  # back to the old rotation; the next reload keeps the undo
    assert world.on_call("pay-primary") == ["alice"]
    assert sync_catalog(world.ctx, source=changed, at=world.clock.now()) == []


def test_handoff_tells_the_incoming_person_and_the_team_once(world: World) -> None:
    world.clock.set(datetime(2026, 11, 30, 8, 1, tzinfo=UTC))  # Mon 09:01 Berlin
    assert schedule_tick(world.ctx) == 1
    assert schedule_tick(world.ctx) == 0
    (person, message), = world.chat.directs
    assert person == "carol" and "You are on call for *pay-primary*" in message.text
    assert "no open incidents" in message.text
    assert "Handoff on *pay-primary*: Carol" in world.chat.texts()[-1]


def test_report_splits_hours_and_shows_health(world: World) -> None:
    world.clock.set(datetime(2026, 12, 31, 23, 0, tzinfo=UTC))
    text = world.say("/oncall report payments 2026-12")
    # December 2026 in Berlin: 31 days = 744 hours between alice and carol.
    assert "Alice" in text and "Carol" in text
    assert "Schedule health" not in text or "gap" not in text
