"""`SlackChat` and `SlackPager` against the fake Slack Web API: the wire format and the errors."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from bot.slack.blocks import message_blocks
from bot.slack.chat import SlackChat, SlackPager
from tests.support.slack_fake import FakeSlack
from tests.support.slack_helpers import BOT_TOKEN, DEMO_CATALOG
from workflows.catalog.load import load_catalog
from workflows.model import Incident, Page
from workflows.ports import Button, ExternalServiceError, Message


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def chat(fake: FakeSlack) -> SlackChat:
    return SlackChat.create(token=BOT_TOKEN, base_url=fake.api_url, catalog=load_catalog(DEMO_CATALOG))


def test_a_taken_channel_name_gets_a_number(fake: FakeSlack, chat: SlackChat) -> None:
    fake.taken_names |= {"inc-20261124-down", "inc-20261124-down-2"}
    channel = chat.create_channel(name="inc-20261124-down", private=True)
    created = fake.calls_to("conversations.create")
    assert [c.params for c in created] == [{"name": "inc-20261124-down-3", "is_private": "1"}]
    assert created[0].params and fake.channels[channel]["is_private"]


def test_people_are_invited_by_their_slack_ids(fake: FakeSlack, chat: SlackChat) -> None:
    chat.invite(channel="C1", people=["alice", "U0OTHER"])
    [call] = fake.calls_to("conversations.invite")
    assert call.params == {"channel": "C1", "users": "U0ALICE,U0OTHER", "force": "1"}
    with pytest.raises(ExternalServiceError, match="cannot invite mallory") as error:
        chat.invite(channel="C1", people=["bob", "mallory"])
    assert not error.value.retryable
    assert fake.calls_to("conversations.invite")[-1].params["users"] == "U0BOB"


def test_a_slack_error_becomes_an_external_service_error(fake: FakeSlack) -> None:
    chat = SlackChat.create(token="xoxp-not-a-bot", base_url=fake.api_url,
                            catalog=load_catalog(DEMO_CATALOG))
    with pytest.raises(ExternalServiceError, match="not_authed") as error:
        chat.set_topic(channel="C1", topic="P1")
    assert error.value.retryable is False
    assert type(error.value.__cause__).__name__ == "SlackApiError"


def test_an_unreachable_slack_is_retryable() -> None:
    chat = SlackChat.create(token=BOT_TOKEN, base_url="http://127.0.0.1:9/api/",
                            catalog=load_catalog(DEMO_CATALOG))
    with pytest.raises(ExternalServiceError) as error:
        chat.post(channel="C1", message=Message("hello"))
    assert error.value.retryable


def test_a_page_is_a_direct_message_with_an_acknowledge_button(
    fake: FakeSlack, chat: SlackChat
) -> None:
    now = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    incident = Incident(title="Down", service="checkout", team="payments", severity="critical",
                        urgency="high", environment="production", priority="P1", declared_at=now,
                        id=7)
    message = Message("You are paged for INC-7", buttons=(Button("ack", "Acknowledge", "7", "primary"),))
    ref = SlackPager(chat).send_page(page=Page(7, "erin", "chat", now), incident=incident,
                                     message=message)
    [opened] = fake.calls_to("conversations.open")
    assert opened.params == {"users": "U0ERIN"}
    [posted] = fake.calls_to("chat.postMessage")
    assert ref.startswith("DU0ERIN:")
    assert posted.params["channel"] == "DU0ERIN" and posted.params["text"] == message.text
    assert posted.params["blocks"][-1] == {"type": "actions", "elements": [{
        "type": "button", "action_id": "firebell_ack", "value": "7", "style": "primary",
        "text": {"type": "plain_text", "text": "Acknowledge"}}]}


def test_paging_someone_without_a_slack_id_fails_clearly(chat: SlackChat) -> None:
    with pytest.raises(ExternalServiceError, match="no Slack id"):
        chat.send_direct(person="mallory", message=Message("hi"))


def test_blocks_escape_text_and_show_links_as_url_buttons() -> None:
    blocks = message_blocks(Message("<b> & co", links=(("Runbook", "https://r.example/x"),)))
    assert blocks[0] == {"type": "section", "text": {"type": "mrkdwn", "text": "&lt;b&gt; &amp; co"}}
    assert blocks[1] == {"type": "actions", "elements": [
        {"type": "button", "action_id": "firebell_link_0",
         "text": {"type": "plain_text", "text": "Runbook"}, "url": "https://r.example/x"}]}
    long = message_blocks(Message("x" * 7000))
    assert [len(b["text"]["text"]) for b in long] == [3000, 3000, 1000]


def test_a_user_group_follows_the_people_on_call(fake: FakeSlack, chat: SlackChat) -> None:
    chat.set_user_group(group="S0ONCALL", people=["bob", "alice"])
    assert fake.user_groups == {"S0ONCALL": ["U0ALICE", "U0BOB"]}


def test_history_is_read_page_by_page(fake: FakeSlack, chat: SlackChat) -> None:
    fake.history["C1"] = [
        {"type": "message", "ts": f"1764000000.{n:06d}", "user": "U0ALICE", "text": f"m{n}"}
        for n in range(250)
    ] + [{"type": "message", "ts": "1764000001.000000", "user": "U0BOB", "text": "see file",
          "files": [{"name": "graph.png", "permalink": "https://f.example/1"}], "edited": {}}]
    first = chat.history(channel="C1", cursor=None, oldest=None)
    assert len(first.messages) == 200 and first.next_cursor
    second = chat.history(channel="C1", cursor=first.next_cursor, oldest=None)
    assert len(second.messages) == 51 and second.next_cursor is None
    latest = first.messages[0]
    assert (latest.message_id, latest.author, latest.edited) == ("C1:1764000001.000000", "U0BOB", True)
    assert latest.files[0].url == "https://f.example/1"
    assert latest.at == datetime(2025, 11, 24, 16, 0, 1, tzinfo=UTC)
    recent = chat.history(channel="C1", cursor=None,
                          oldest=datetime(2025, 11, 24, 16, 0, 0, 248, tzinfo=UTC))
    assert [m.text for m in recent.messages] == ["see file", "m249"]


def test_a_postmortem_draft_is_uploaded_as_a_file(fake: FakeSlack, chat: SlackChat) -> None:
    link = chat.upload(channel="C1", filename="INC-1.md", title="Postmortem", content="# INC-1")
    [(file_id, upload)] = fake.uploads.items()
    assert link == f"https://firebell-test.slack.com/files/{file_id}"
    assert upload == {"name": "INC-1.md", "content": "# INC-1", "title": "Postmortem",
                      "channel": "C1"}


def test_the_pager_finds_a_page_slack_took_before_a_crash(fake: FakeSlack, chat: SlackChat) -> None:
    now = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    pager = SlackPager(chat)
    incident = Incident(title="Down", service="checkout", team="payments", severity="critical",
                        urgency="high", environment="production", priority="P1", declared_at=now,
                        id=7)
    before = datetime.now(UTC)
    chat.post(channel="DU0ALICE", message=Message("other", buttons=(Button("ack", "Ack", "8"),)))
    ref = pager.send_page(page=Page(7, "alice", "chat", now), incident=incident,
                          message=Message("page", buttons=(Button("ack", "Ack", "7"),)))
    fake.history["DU0ALICE"].append({"type": "message", "ts": "9999999999.000000",
                                     "user": "U0ALICE", "text": "on it"})
    assert pager.find_sent(page=Page(7, "alice", "chat", now), since=before) == [ref]
    assert pager.find_sent(page=Page(9, "alice", "chat", now), since=before) == []
