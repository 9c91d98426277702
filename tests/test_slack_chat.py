"""`SlackChat` and `SlackPager` against the fake Slack Web API: the wire format and the errors."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from bot.slack.blocks import message_blocks
from bot.slack.chat import SlackChat, SlackPager
from tests.slack_fake import FakeSlack
from tests.slack_helpers import BOT_TOKEN, DEMO_CATALOG
from workflows.catalog import load_catalog
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


def test_blocks_escape_text_and_show_links_as_context() -> None:
    blocks = message_blocks(Message("<b> & co", links=(("Runbook", "https://r.example/x"),)))
    assert blocks[0] == {"type": "section", "text": {"type": "mrkdwn", "text": "&lt;b&gt; &amp; co"}}
    assert blocks[1] == {"type": "context", "elements": [
        {"type": "mrkdwn", "text": "<https://r.example/x|Runbook>"}]}
    long = message_blocks(Message("x" * 7000))
    assert [len(b["text"]["text"]) for b in long] == [3000, 3000, 1000]
