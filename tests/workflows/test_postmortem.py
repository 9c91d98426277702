"""Timeline capture, backfill, the postmortem draft and its process, on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from storage.store import SqlStore
from tests.support.catalogs import FOLLOWUPS
from tests.support.fakes import HistoryChat
from tests.support.world import World
from workflows.followup import postmortem
from workflows.followup.model import PostmortemState
from workflows.incident import capture, lifecycle, respond
from workflows.incident.metrics import incident_metrics
from workflows.ports import ChatFile, ChatMessage, InvalidRequest
from workflows.render import TemplateProblem

SECTIONS = ["## Summary", "## Impact", "## Detection and response", "## Timeline",
            "## Root cause", "## Contributing factors", "## What went well",
            "## What went badly", "## Action items", "## Links"]


@pytest.fixture
def world(store: SqlStore, start_time: datetime) -> Iterator[World]:
    yield World.for_followups(store, start_time)


def _ts(world: World, seconds: float) -> str:
    return f"{world.clock.now().timestamp() + seconds:.6f}"


def _live(world: World, channel: str, ts: str, text: str, user: str = "UBOB",
          files: tuple[ChatFile, ...] = ()) -> bool:
    return capture.record_chat_message(world.ctx, channel=channel, message=ChatMessage(
        message_id=f"{channel}:{ts}", author=user, text=text, at=world.clock.now(), files=files))


def test_messages_edits_deletions_pins_key_moments_links_and_files(world: World) -> None:
    incident = world.declare()
    assert incident.id is not None and incident.channel
    channel = incident.channel
    first, second, third = _ts(world, 1), _ts(world, 2), _ts(world, 3)
    assert _live(world, channel, first, "errors on <https://grafana.example/d/x|the dashboard>")
    assert not _live(world, channel, first, "errors on <https://grafana.example/d/x|the dashboard>")
    _live(world, channel, second, "here is the trace", files=(
        ChatFile(name="trace.txt", url="https://files.example/trace.txt"),))
    _live(world, channel, third, "the password is hunter2")
    assert capture.record_edit(world.ctx, channel=channel, message_id=f"{channel}:{first}",
                               text="errors on https://grafana.example/d/y")
    assert capture.record_deletion(world.ctx, channel=channel, message_id=f"{channel}:{third}")
    assert capture.record_pin(world.ctx, channel=channel, message_id=f"{channel}:{second}",
                              actor="UALICE")
    assert capture.record_pin(world.ctx, channel=channel, message_id=f"{channel}:{second}",
                              actor="UALICE") is False  # once
    assert capture.record_reaction(world.ctx, channel=channel, message_id=f"{channel}:{first}",
                                   reaction="star", actor="UBOB")
    assert not capture.record_reaction(world.ctx, channel=channel,
                                       message_id=f"{channel}:{first}", reaction="tada", actor="UBOB")
    messages = world.events(incident.id, "message")
    assert [m.actor for m in messages] == ["bob", "bob", "bob"]
    edited, traced, deleted = messages
    assert edited.text == "errors on https://grafana.example/d/y"
    assert edited.data["history"][0]["text"].startswith("errors on <https://grafana.example/d/x")
    assert edited.data["links"] == ["https://grafana.example/d/y"] and edited.data["key_moment"]
    assert traced.data["files"][0]["url"] == "https://files.example/trace.txt" and traced.data["pinned"]
    assert deleted.text == "" and deleted.data["deleted"] and "hunter2" not in str(deleted.data)
    assert [e.kind for e in world.events(incident.id)][-2:] == ["pinned", "key_moment"]


def test_backfill_reads_every_page_and_adds_each_missed_message_once(world: World) -> None:
    chat = world.chat
    assert isinstance(chat, HistoryChat)
    incident = world.declare()
    assert incident.id is not None and incident.channel
    channel = incident.channel
    stamps = [_ts(world, n) for n in range(1, 6)]
    chat.messages[channel] = [world.message(channel, ts, f"message {n}")
                              for n, ts in enumerate(stamps, 1)]
    chat.messages[channel].append(ChatMessage(message_id=f"{channel}:{_ts(world, 6)}",
                                              author="B0FIREBELL", text="welcome", at=world.clock.now(),
                                              from_bot=True))
    _live(world, channel, stamps[1], "message 2")  # seen live already
    chat.messages[channel][2] = world.message(channel, stamps[2], "message 3 (edited)", edited=True)
    added = capture.backfill(world.ctx, incident_id=incident.id, history=chat)
    assert added == 4
    assert chat.history_calls == [None, "2", "4"]  # three pages of two
    assert capture.backfill(world.ctx, incident_id=incident.id, history=chat) == 0
    texts = [m.text for m in world.events(incident.id, "message")]
    assert sorted(texts) == ["message 1", "message 2", "message 3 (edited)", "message 4", "message 5"]


def test_draft_has_every_section_the_timeline_in_order_and_metrics(world: World) -> None:
    chat = world.chat
    assert isinstance(chat, HistoryChat)
    incident = world.declare()
    assert incident.id is not None and incident.channel
    world.advance(minutes=2)
    respond.acknowledge(world.ctx, incident_id=incident.id, person="alice")
    _live(world, incident.channel, _ts(world, 0), "rolling back the deploy")
    world.advance(minutes=10)
    lifecycle.mitigate(world.ctx, incident_id=incident.id, actor="alice")
    world.advance(minutes=5)
    lifecycle.resolve(world.ctx, incident_id=incident.id, actor="alice")
    draft = postmortem.draft_postmortem(world.ctx, incident_id=incident.id, actor="alice")
    text = draft.text
    assert [text.index(s) for s in SECTIONS] == sorted(text.index(s) for s in SECTIONS)
    assert "| Time to acknowledge (TTA) | 2m |" in text
    assert "| Time to mitigate (TTM) | 12m |" in text and "| Time to resolve (TTR) | 17m |" in text
    assert text.index("| declared |") < text.index("rolling back the deploy") < text.index("| resolved |")
    assert "(Europe/Berlin)" in text and "| 10:30:00 | declared" in text  # 09:30 UTC in Berlin
    assert "https://runbooks.example/checkout" in text
    # Stored, and posted as a file with a short message.
    assert chat.uploads and chat.uploads[0][2] == text
    assert "Postmortem draft for INC-" in chat.texts()[-1]
    assert postmortem.markdown(world.ctx, incident_id=incident.id) == text
    with world.ctx.store.transaction() as tx:
        stored = tx.followups().postmortem(incident.id)
    assert stored is not None and stored.state == PostmortemState.DRAFT and stored.required


def test_blameless_check_flags_blame_with_a_rewording_hint(world: World) -> None:
    incident = world.declare()
    assert incident.id is not None and incident.channel
    _live(world, incident.channel, _ts(world, 1), "Dave broke the deploy config again")
    _live(world, incident.channel, _ts(world, 2), "it was X's mistake, because of Bob")
    _live(world, incident.channel, _ts(world, 3), "The deploy broke checkout")
    lifecycle.resolve(world.ctx, incident_id=incident.id, actor="alice")
    draft = postmortem.draft_postmortem(world.ctx, incident_id=incident.id, actor="alice")
    people = {flag.person for flag in draft.flags}
    assert people == {"Dave", "X", "Bob"}
    assert "## Blameless check" in draft.text and "canary" in draft.text


def test_a_broken_custom_template_is_a_clear_error_and_no_half_draft(
    store: SqlStore, start_time: datetime, tmp_path: Path
) -> None:
    template = tmp_path / "ours.md.j2"
    template.write_text("# {{ incident.ref }}\n{{ no_such_thing }}\n")
    world = World.for_followups(store, start_time, catalog=FOLLOWUPS.replace(
        "postmortem: {", f"postmortem: {{template: '{template}', "))
    incident = world.declare()
    assert incident.id is not None
    with pytest.raises(TemplateProblem, match="ours.md.j2 is broken.*no_such_thing"):
        postmortem.draft_postmortem(world.ctx, incident_id=incident.id, actor="alice")
    with world.ctx.store.transaction() as tx:
        assert tx.followups().postmortem(incident.id) is None
    template.write_text("# {{ incident.ref }}\n{% for e in timeline %}{{ e.kind }}\n{% endfor %}\n"
                        "{% if x %}")
    with pytest.raises(TemplateProblem, match="broken"):
        postmortem.draft_postmortem(world.ctx, incident_id=incident.id, actor="alice")
    template.write_text("# Ours: {{ incident.ref }} ({{ metrics.tta }})\n")
    draft = postmortem.draft_postmortem(world.ctx, incident_id=incident.id, actor="alice")
    assert draft.text == f"# Ours: INC-{incident.id} (—)"


def test_required_postmortem_is_due_next_business_day_and_reminds_the_commander(world: World) -> None:
    incident = world.declare()  # Tuesday 10:30 Berlin; alice declared, so she commands
    assert incident.id is not None
    respond.acknowledge(world.ctx, incident_id=incident.id, person="alice")
    lifecycle.resolve(world.ctx, incident_id=incident.id, actor="alice")
    world.advance(minutes=1)
    with world.ctx.store.transaction() as tx:
        owed = tx.followups().postmortem(incident.id)
    assert owed is not None and owed.state == PostmortemState.PENDING and owed.required
    assert owed.due_at == datetime(2026, 11, 25, 9, 30, tzinfo=UTC)  # Wednesday, same time
    world.advance(hours=23, minutes=58)
    assert world.chat.directs == []
    world.advance(minutes=1)
    [(person, reminder)] = world.chat.directs
    assert person == "alice" and "postmortem of INC-" in reminder.text
    world.advance(hours=2)
    assert len(world.chat.directs) == 1  # the next one a business day later
    world.advance(hours=22)
    assert len(world.chat.directs) == 2
    postmortem.draft_postmortem(world.ctx, incident_id=incident.id, actor="alice")
    postmortem.change_state(world.ctx, incident_id=incident.id, to="review", actor="alice")
    with pytest.raises(InvalidRequest):
        postmortem.draft_postmortem(world.ctx, incident_id=incident.id, actor="alice")
    postmortem.change_state(world.ctx, incident_id=incident.id, to="publish", actor="alice")
    world.advance(days=3)
    assert len(world.chat.directs) == 2
    assert [e.text for e in world.events(incident.id, "postmortem_state")] == ["in review", "published"]


def test_p3_and_drills_owe_no_postmortem(world: World) -> None:
    minor = world.declare(severity="minor")
    drill = world.declare(drill=True)
    for incident in (minor, drill):
        assert incident.id is not None
        lifecycle.resolve(world.ctx, incident_id=incident.id, actor="alice")
    world.advance(days=3)
    with world.ctx.store.transaction() as tx:
        assert tx.followups().postmortem(minor.id or 0) is None
        assert tx.followups().postmortem(drill.id or 0) is None


def test_repeat_incidents_on_a_service_with_the_same_cause_are_counted(world: World) -> None:
    ids = []
    for n in range(3):
        incident = world.declare(f"Checkout slow {n}")
        assert incident.id is not None
        ids.append(incident.id)
        lifecycle.resolve(world.ctx, incident_id=incident.id, actor="alice")
        world.advance(days=9)
    tagged = [postmortem.tag_cause(world.ctx, incident_id=i, tag="db-pool", actor="alice")
              for i in ids]
    assert tagged[0].sentence is None
    assert tagged[2].sentence == "third incident on Checkout API in 30 days"
    draft = postmortem.draft_postmortem(world.ctx, incident_id=ids[2], actor="alice")
    assert "third incident on Checkout API in 30 days" in draft.text
    assert f"INC-{ids[0]}" in draft.text
    with pytest.raises(InvalidRequest, match="db-pool, bad-deploy"):
        postmortem.tag_cause(world.ctx, incident_id=ids[0], tag="cosmic-rays", actor="alice")


def test_metrics_measure_detection_from_the_signals_impact_start(world: World) -> None:
    incident = world.declare()
    assert incident.id is not None
    events = world.events(incident.id)
    events[0].data["started_at"] = "2026-11-24T09:25:00Z"
    metrics = incident_metrics(world.incident(incident.id), events)
    assert metrics.ttd == 300 and metrics.tta is None and metrics.formatted()["ttd"] == "5m"


def test_the_close_message_offers_only_the_postmortem_step_that_is_left(world: World) -> None:
    def closing(incident_id: int) -> str:
        return next(m.text for _, m in world.chat.posts
                    if m.text.startswith(f":lock: INC-{incident_id} is closed"))

    published = world.declare()
    assert published.id is not None
    respond.acknowledge(world.ctx, incident_id=published.id, person="alice")
    lifecycle.resolve(world.ctx, incident_id=published.id, actor="alice")
    postmortem.draft_postmortem(world.ctx, incident_id=published.id, actor="alice")
    postmortem.change_state(world.ctx, incident_id=published.id, to="publish", actor="alice")
    drafted = world.declare("Payments slow")
    assert drafted.id is not None
    postmortem.draft_postmortem(world.ctx, incident_id=drafted.id, actor="alice")
    lifecycle.close(world.ctx, incident_id=drafted.id, actor="alice")
    untouched = world.declare("Search down")
    assert untouched.id is not None
    lifecycle.close(world.ctx, incident_id=untouched.id, actor="alice")
    world.advance(hours=2)  # the recovery watch of the published one ends

    assert closing(published.id).endswith("Its postmortem is published.")
    assert "/incident postmortem" not in closing(published.id)
    assert closing(drafted.id).endswith(
        "Next: finish the postmortem (draft), then `/incident postmortem publish`.")
    assert closing(untouched.id).endswith("Next: `/incident postmortem`.")


def test_the_follow_up_is_swept_at_most_every_ten_seconds_not_on_every_wake_up(
        world: World) -> None:
    """A busy escalation wakes the process often; the follow-up sweep (five transactions, one
    of them reading the week's resolved incidents) runs at most every 10 s of them (issue 16:
    79 sweeps during 14 declarations made declaring slower as history grew)."""
    world.advance(seconds=1)  # swept now: nothing owed yet
    incident = world.declare()
    assert incident.id is not None
    lifecycle.resolve(world.ctx, incident_id=incident.id, actor="alice")

    def owed() -> object:
        with world.ctx.store.transaction() as tx:
            return tx.followups().postmortem(incident.id or 0)

    world.advance(seconds=5)  # a wake-up 5 s after the sweep: no sweep
    assert owed() is None
    world.advance(seconds=5)  # 10 s after it: swept again
    assert owed() is not None
