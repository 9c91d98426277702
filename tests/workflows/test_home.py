"""A person's home: their open incidents and why, their next shifts, who is on call for their
teams; published again for the people of an incident whenever it changes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from storage.store import SqlStore
from tests.support.catalogs import PAGING
from tests.support.fakes import RecordingChat
from tests.support.world import World
from workflows.home import Home, HomePages, home_for, publish_homes
from workflows.incident import lifecycle, respond
from workflows.model import State
from workflows.outbox import ClaimedEffect, EffectKind
from workflows.ports import ExternalServiceError


@dataclass
class HomeChat(RecordingChat):
    """RecordingChat with an App Home: every home published, in order; `fail_for` refuses."""

    homes: list[tuple[str, Home]] = field(default_factory=list)
    fail_for: set[str] = field(default_factory=set)
    channel_failures: int = 0  # how many channel creations fail before one works

    def create_channel(self, *, name: str, private: bool) -> str:
        if self.channel_failures:
            self.channel_failures -= 1
            raise ExternalServiceError("conversations.create timed out", retryable=True)
        return super().create_channel(name=name, private=private)

    def publish_home(self, *, person: str, home: Home) -> None:
        if person in self.fail_for:
            raise ExternalServiceError(f"cannot publish {person}'s home", retryable=True)
        self.homes.append((person, home))

    def last(self, person: str) -> Home:
        return [home for who, home in self.homes if who == person][-1]

    def people(self) -> set[str]:
        return {who for who, _ in self.homes}


@pytest.fixture
def world(store: SqlStore, start_time: datetime) -> Iterator[World]:
    # PAGING: alice and carol take weekly turns on pay-primary (alice this week), bob is
    # pay-secondary, erin is named in step 2 of the payments policy, frank declares.
    yield World(store, start_time, catalog=PAGING, chat=HomeChat(), reporter="frank")


def chat(world: World) -> HomeChat:
    assert isinstance(world.chat, HomeChat)
    return world.chat


def test_the_chat_with_a_home_has_the_capability_and_the_plain_one_has_not() -> None:
    assert isinstance(HomeChat(), HomePages)
    assert not isinstance(RecordingChat(), HomePages)


def test_home_shows_why_each_incident_is_there(world: World) -> None:
    p1 = world.declare_id(title="Checkout is down")
    p3 = world.declare_id(title="Slow receipts", severity="minor")  # a ticket: pages nobody
    now = world.clock.now()

    alice = home_for(world.ctx, person="alice", now=now)
    assert [(i.id, i.why) for i in alice.incidents] == [(p1, ("paged",))]
    [incident] = alice.incidents
    assert (incident.title, incident.priority, incident.service) == (
        "Checkout is down", "P1", "Checkout API")
    assert incident.acknowledgeable and incident.commander == "Frank"

    frank = home_for(world.ctx, person="frank", now=now)  # declared both; commander of both
    assert [(i.id, i.why) for i in frank.incidents] == [
        (p1, ("incident commander", "declared")), (p3, ("incident commander", "declared"))]

    # Carol is on the team's schedule but was not paged: the team's P1 is hers to see, the P3 not.
    carol = home_for(world.ctx, person="carol", now=now)
    assert [(i.id, i.why) for i in carol.incidents] == [(p1, ("your team",))]
    # Erin only appears in the team's escalation policy; that makes it her team too.
    assert [i.id for i in home_for(world.ctx, person="erin", now=now).incidents] == [p1]


def test_a_private_incident_of_the_team_shows_no_details_to_those_not_in_it(world: World) -> None:
    incident_id = world.declare_id(title="Card data leaked", security=True)
    now = world.clock.now()
    [seen_by_carol] = home_for(world.ctx, person="carol", now=now).incidents
    assert seen_by_carol.id == incident_id and seen_by_carol.private
    assert (seen_by_carol.title, seen_by_carol.service, seen_by_carol.channel) == ("", "", None)
    [seen_by_alice] = home_for(world.ctx, person="alice", now=now).incidents  # paged: hers
    assert seen_by_alice.title == "Card data leaked" and seen_by_alice.channel


def test_shifts_of_the_next_14_days_and_who_is_on_call_for_my_teams(world: World) -> None:
    now = world.clock.now()  # Tue 24 Nov 2026 10:30 in Berlin: alice's week on pay-primary
    alice = home_for(world.ctx, person="alice", now=now)
    assert [(s.schedule, s.start, s.end, s.current) for s in alice.shifts] == [
        ("pay-primary", now, datetime(2026, 11, 30, 8, tzinfo=UTC), True),
        # her next week, as far as the 14 days reach
        ("pay-primary", datetime(2026, 12, 7, 8, tzinfo=UTC), datetime(2026, 12, 8, 9, 30,
                                                                        tzinfo=UTC), False),
    ]
    assert alice.shifts[0].team == "Payments" and alice.on_call_now == ("pay-primary",)
    assert [(line.schedule, line.now, line.next_people) for line in alice.on_call] == [
        ("pay-primary", ("alice",), ("carol",)), ("pay-secondary", ("bob",), ())]
    assert alice.zone == "Europe/Berlin" and alice.known and alice.name == "Alice"

    carol = home_for(world.ctx, person="carol", now=now)
    assert [(s.start, s.current) for s in carol.shifts] == [
        (datetime(2026, 11, 30, 8, tzinfo=UTC), False)]
    assert carol.on_call_now == ()
    # Frank is on no schedule and in no team's policy: no shifts, no teams.
    frank = home_for(world.ctx, person="frank", now=now)
    assert (frank.shifts, frank.on_call, frank.on_call_now) == ((), (), ())


def test_a_swap_taken_in_chat_moves_the_shift_to_the_taker(world: World) -> None:
    world.say("/oncall swap pay-primary", user="UALICE")
    world.say("/oncall take 1", user="UCAROL")
    now = world.clock.now()
    assert [s.start for s in home_for(world.ctx, person="alice", now=now).shifts] == [
        datetime(2026, 12, 7, 8, tzinfo=UTC)]
    carol = home_for(world.ctx, person="carol", now=now)
    assert carol.shifts[0].override and carol.shifts[0].current
    assert carol.on_call_now == ("pay-primary",)


def test_a_stranger_gets_a_home_that_knows_nothing_of_them(world: World) -> None:
    world.declare_id()
    home = home_for(world.ctx, person="U0STRANGER", now=world.clock.now())
    assert not home.known and home.incidents == () and home.shifts == ()


def test_every_change_publishes_the_homes_of_the_incidents_people_again(world: World) -> None:
    incident_id = world.declare_id()
    homes = chat(world)
    # Declared: frank (declared it, commander) and alice (paged) see it at once.
    assert homes.people() == {"frank", "alice"}
    assert homes.last("alice").incidents[0].state == State.TRIGGERED

    homes.homes.clear()
    respond.acknowledge(world.ctx, incident_id=incident_id, person="alice")
    assert homes.people() == {"frank", "alice"}
    [seen] = homes.last("alice").incidents
    assert seen.state == State.ACKNOWLEDGED and seen.acknowledged_by == "Alice"
    assert not seen.acknowledgeable

    homes.homes.clear()
    world.say(f"/incident role INC-{incident_id} comms @erin", user="UFRANK")
    assert "erin" in homes.people()  # a new role holder sees it on her home
    assert homes.last("erin").incidents[0].why == ("communications lead",)

    homes.homes.clear()
    lifecycle.resolve(world.ctx, incident_id=incident_id, actor="alice")
    assert {"frank", "alice", "erin"} <= homes.people()
    assert homes.last("alice").incidents == ()  # resolved: off the home


def test_one_persons_failure_does_not_keep_the_others_from_their_home(world: World) -> None:
    incident_id = world.declare_id()
    homes = chat(world)
    homes.homes.clear()
    homes.fail_for.add("frank")
    now = world.clock.now()
    effect = ClaimedEffect(id=0, key="home:test", kind=EffectKind.HOME, incident_id=incident_id,
                           payload={}, attempts=1, created_at=now, not_before=now,
                           lease_until=now)
    with pytest.raises(ExternalServiceError, match="frank"):
        publish_homes(world.ctx, effect)
    assert homes.people() == {"alice"}


def test_a_home_published_before_the_channel_existed_is_published_again_with_it(
        world: World) -> None:
    # Homes are published out of order: here the channel is late (its first creation fails),
    # so the declaration's homes go out without it; once it exists, they go out again with it.
    homes = chat(world)
    homes.channel_failures = 1
    incident_id = world.declare_id()
    assert homes.last("alice").incidents[0].channel is None
    homes.homes.clear()
    world.advance(minutes=1)  # the channel is made on the retry
    channel = world.incident(incident_id).channel
    assert channel
    assert homes.last("alice").incidents[0].channel == channel
    assert homes.last("frank").incidents[0].channel == channel
