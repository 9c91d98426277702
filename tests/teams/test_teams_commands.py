"""Teams messages run the shared command table: the reply goes back into the conversation
through the Bot Connector, with a client-credential token fetched once and reused."""

from __future__ import annotations

import time
from typing import Any

from tests.teams.fakes import APP_ID, STRANGER, TeamsHarness, bot_token, message

DECLARE = "/incident declare service=checkout severity=critical urgency=high Checkout down"


def test_a_catalog_person_declares_from_a_1on1_chat(teams: TeamsHarness) -> None:
    sent = teams.say(DECLARE)
    [incident] = teams.incidents()
    assert (incident.title, incident.priority, incident.declared_by) == ("Checkout down", "P1", "alice")
    assert sent.method == "POST" and sent.service == "connector"
    assert sent.path == "conversations/a:personal-alice/activities"
    assert sent.body["type"] == "message" and "Declared INC-1 (P1)" in sent.body["text"]
    assert sent.authorization == f"Bearer {teams.microsoft.issued[0]}"

    again = teams.say("incident list")  # without the slash; the same token again
    assert "INC-1" in again.body["text"]
    assert again.authorization == sent.authorization
    assert len(teams.microsoft.token_requests) == 1


def test_oncall_by_command_and_in_natural_words(teams: TeamsHarness) -> None:
    command = teams.say("/oncall payments").body["text"]
    assert "Alice Doe" in command and "payments-primary" in command
    mention = {"type": "mention", "text": "<at>Firebell</at>",
               "mentioned": {"id": f"28:{APP_ID}", "name": "Firebell"}}
    asked = teams.say(
        "<at>Firebell</at> who is on call for payments?",
        conversation="19:general@thread.tacv2;messageid=1700000000000", kind="channel",
        entities=[mention],
        channelData={"tenant": {"id": "t"}, "channel": {"id": "19:general@thread.tacv2"}},
    )
    assert asked.path == "conversations/19:general@thread.tacv2;messageid=1700000000000/activities"
    assert asked.body["text"] == command


def test_help_is_the_command_table(teams: TeamsHarness) -> None:
    text = teams.say("help").body["text"]
    assert "incident declare" in text and "oncall" in text


def test_a_channel_message_without_a_mention_gets_no_answer(teams: TeamsHarness) -> None:
    quiet = message(teams.microsoft.service_url, "/incident list",
                    conversation="19:general@thread.tacv2;messageid=1", kind="channel")
    assert teams.post(quiet).status_code == 200
    teams.say("/oncall payments")  # answered: the quiet one would have been answered before it
    assert len(teams.microsoft.sent) == 1


def test_a_teams_user_not_in_the_catalog_cannot_declare(teams: TeamsHarness) -> None:
    sent = teams.say(DECLARE, user=STRANGER, conversation="a:personal-stranger")
    assert "not in Firebell's catalog" in sent.body["text"]
    assert f"teams: {STRANGER}" in sent.body["text"]
    assert sent.path == "conversations/a:personal-stranger/activities"
    assert teams.incidents() == []
    assert "Alice Doe" in teams.say("/oncall payments", user=STRANGER).body["text"]  # asking is open


def test_acknowledge_card_answers_with_the_refreshed_card(teams: TeamsHarness) -> None:
    teams.say(DECLARE)
    [incident] = teams.incidents()
    invoke = message(teams.microsoft.service_url, "", type="invoke", name="adaptiveCard/action",
                     value={"action": {"type": "Action.Execute", "verb": "ack",
                                       "data": {"incident": incident.id}}, "trigger": "manual"})
    invoke.pop("text")
    answer = teams.post(invoke)
    assert answer.status_code == 200
    body = answer.json()
    assert body["statusCode"] == 200 and body["type"] == "application/vnd.microsoft.card.adaptive"
    card = json_text(body["value"])
    assert "Acknowledged by Alice Doe" in card and "Action.Execute" not in card
    [incident] = teams.incidents()
    assert incident.acknowledged_by == "alice"

    stranger = {**invoke, "from": {"id": "29:x", "aadObjectId": STRANGER}}
    refused = json_text(teams.post(stranger, token=bot_token(invoke["serviceUrl"])).json())
    assert "not in Firebell's catalog" in refused


def json_text(value: object) -> str:
    import json

    return json.dumps(value)


def test_with_slack_off_teams_is_the_chat_and_pages_alice_in_her_1on1(teams: TeamsHarness) -> None:
    teams.firebell.dispatcher.start()  # effects performed as in `serve`
    try:
        teams.say(DECLARE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not _page_cards(teams):
            time.sleep(0.05)
    finally:
        teams.firebell.dispatcher.stop(grace=2)
    [page] = _page_cards(teams)
    assert page.path == "conversations/a:personal-alice/activities"
    assert "Checkout down" in json_text(page.body) and '"verb": "ack"' in json_text(page.body)


def _page_cards(teams: TeamsHarness) -> list[Any]:
    return [s for s in teams.microsoft.sent if '"verb": "ack"' in json_text(s.body)]
