"""Slack's replays are acted on once: the same signed request twice, and Events API retries.

Through the real HTTP server with signed requests and the fake Slack Web API, on SQLite and
PostgreSQL; then the request log itself, racing claims included.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.slack.replays import Answer, SlackReplays
from storage.effect_tables import RequestSeenRow
from storage.request_log import SqlRequestLog
from storage.store import SqlStore
from tests.support.slack_helpers import SIGNING_SECRET, Harness, modal_values, signature_headers
from workflows.clock import FakeClock

pytestmark = pytest.mark.slow

START = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)  # a Tuesday; alice is primary, bob secondary
DECLARE = "declare service=checkout severity=critical urgency=high"
SETTLE = 0.5  # long enough for a duplicate to be (not) acted on after the ack
FORGED = {"X-Slack-Signature": "v0=" + "0" * 64}


@pytest.fixture
def h(tmp_path: Path, database_url: str) -> Iterator[Harness]:
    harness = Harness(tmp_path, clock=FakeClock(START), database_url=database_url)
    yield harness
    harness.close()


def _seen_rows(h: Harness) -> int:
    with h.firebell.store.engine.connect() as connection:
        return int(connection.execute(
            select(func.count()).select_from(RequestSeenRow.__table__)  # type: ignore[attr-defined]
        ).scalar_one())


# the same signed request twice ---------------------------------------------------------------
def test_a_replayed_declare_command_declares_and_pages_once(h: Harness) -> None:
    first, key = h.slack.command("/incident", f"{DECLARE} Checkout down", user="U0BOB")
    again = h.slack.replay()
    assert (first.status_code, first.text) == (again.status_code, again.text) == (200, "")
    assert first.headers.get("content-type") == again.headers.get("content-type")

    [text] = h.fake.wait_for_response(key)
    assert text.startswith("Declared INC-")
    h.fake.wait_for(lambda: h.fake.direct_messages("U0ALICE"))
    time.sleep(SETTLE)
    assert len(h.incidents()) == 1
    assert len(h.fake.calls_to("conversations.create")) == 1
    assert len(h.fake.direct_messages("U0ALICE")) == 1
    assert h.fake.texts(key) == [text]


def test_a_replayed_view_submission_declares_and_pages_once(h: Harness) -> None:
    _, command_key = h.slack.command("/incident", "declare Checkout down", user="U0BOB")
    [opened] = h.fake.wait_for(lambda: h.fake.calls_to("views.open"))
    first = h.slack.view_submission(
        opened.params["view"], modal_values(title="Checkout down", service="checkout"),
        user="U0BOB",
    )
    again = h.slack.replay()
    assert first.status_code == again.status_code == 200 and first.text == again.text

    [confirmation] = h.fake.wait_for_response(command_key)
    assert confirmation.startswith("Declared INC-")
    h.fake.wait_for(lambda: h.fake.direct_messages("U0ALICE"))
    time.sleep(SETTLE)
    assert len(h.incidents()) == 1
    assert len(h.fake.calls_to("conversations.create")) == 1
    assert len(h.fake.direct_messages("U0ALICE")) == 1
    assert h.fake.texts(command_key) == [confirmation]


def test_a_replayed_page_command_pages_once(h: Harness) -> None:
    _, key = h.slack.command("/incident", f"{DECLARE} Payments slow", user="U0BOB")
    [declared] = h.fake.wait_for_response(key)
    incident_id = int(declared.split()[1].removeprefix("INC-"))
    channel = h.fake.wait_for(lambda: [i for i in h.incidents() if i.channel])[0].channel

    _, key = h.slack.command("/incident", "page @erin", user="U0BOB", channel=channel)
    assert h.slack.replay().status_code == 200
    assert h.fake.wait_for_response(key) == ["Paged Erin Engel."]
    h.fake.wait_for(lambda: h.fake.direct_messages("U0ERIN"))
    time.sleep(SETTLE)
    assert len(h.fake.direct_messages("U0ERIN")) == 1
    assert len(h.events(incident_id, "manual_page")) == 1
    assert h.fake.texts(key) == ["Paged Erin Engel."]


def test_a_duplicate_gets_the_first_answer_back_without_bolt(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    dispatched: list[Any] = []
    dispatch = h.firebell.slack.dispatch

    def counting(request: Any) -> Any:
        dispatched.append(request)
        return dispatch(request)

    monkeypatch.setattr(h.firebell.slack, "dispatch", counting)
    # Bolt answers an unknown command 404 with a JSON body: a duplicate gets exactly that.
    first, _ = h.slack.command("/nothing-like-this")
    again = h.slack.replay()
    assert first.status_code == 404 and first.text
    assert first.headers["content-type"].startswith("application/json")
    assert (again.status_code, again.text, again.headers["content-type"]) == (
        first.status_code, first.text, first.headers["content-type"])
    assert len(dispatched) == 1


def test_a_duplicate_while_the_first_is_handled_gets_an_empty_200(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered, release = threading.Event(), threading.Event()
    dispatch = h.firebell.slack.dispatch

    def slow(request: Any) -> Any:
        entered.set()
        release.wait(10)
        return dispatch(request)

    monkeypatch.setattr(h.firebell.slack, "dispatch", slow)
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(h.slack.command, "/oncall", "payments")
        assert entered.wait(10)
        entered.clear()
        during = h.slack.replay()
        assert (during.status_code, during.text) == (200, "")
        assert not entered.is_set()  # the duplicate never reached Bolt
        release.set()
        response, key = first.result(timeout=10)
    assert response.status_code == 200
    [answer] = h.fake.wait_for_response(key)
    assert "payments" in answer
    after = h.slack.replay()
    assert (after.status_code, after.text) == (200, "")
    time.sleep(SETTLE)
    assert h.fake.texts(key) == [answer] and not entered.is_set()


# Events API redeliveries ----------------------------------------------------------------------
def test_a_redelivered_app_mention_is_answered_once(h: Harness) -> None:
    mention = {"type": "app_mention", "channel": "C0GENERAL", "user": "U0ERIN",
               "text": "<@U0FIREBELL> who is on call for checkout?", "ts": "1764000000.000500"}
    now = int(time.time())
    # Slack signs each retry afresh: only the event_id says it is the same event.
    assert h.slack.event(mention, event_id="Ev30", timestamp=now - 120).status_code == 200
    assert h.slack.event(mention, event_id="Ev30", retry=1, timestamp=now - 60).status_code == 200
    assert h.slack.event(mention, event_id="Ev30", retry=2, timestamp=now).status_code == 200
    h.fake.wait_for(lambda: h.fake.calls_to("chat.postMessage", channel="C0GENERAL"))
    time.sleep(SETTLE)
    [answer] = h.fake.calls_to("chat.postMessage", channel="C0GENERAL")
    assert "<@U0ALICE>" in answer.params["text"]

    # Another event with the same words is another question.
    h.slack.event({**mention, "ts": "1764000000.000600"}, event_id="Ev31")
    h.fake.wait_for(lambda: len(h.fake.calls_to("chat.postMessage", channel="C0GENERAL")) == 2)


# forgeries ------------------------------------------------------------------------------------
def test_a_forged_duplicate_gets_401_and_leaves_the_table_alone(h: Harness) -> None:
    _, key = h.slack.command("/oncall", "payments")
    h.fake.wait_for_response(key)
    rows = _seen_rows(h)
    forged = h.slack.replay(headers=FORGED)
    assert forged.status_code == 401
    assert _seen_rows(h) == rows == 1


def test_a_forged_event_cannot_swallow_the_real_one(h: Harness) -> None:
    mention = {"type": "app_mention", "channel": "C0GENERAL", "user": "U0ERIN",
               "text": "<@U0FIREBELL> who is on call for checkout?", "ts": "1764000000.000700"}
    forged = h.slack.event(mention, event_id="Ev40", secret="not-the-secret")
    assert forged.status_code == 401
    assert _seen_rows(h) == 0
    assert h.slack.event(mention, event_id="Ev40").status_code == 200
    h.fake.wait_for(lambda: h.fake.calls_to("chat.postMessage", channel="C0GENERAL"))
    assert _seen_rows(h) == 1


# the request log and the replay rules, without HTTP -------------------------------------------
@pytest.fixture
def requests(store: SqlStore) -> SqlRequestLog:
    return SqlRequestLog(store.engine)


def test_the_request_log_claims_remembers_releases_and_prunes(requests: SqlRequestLog) -> None:
    assert requests.claim("a", now=START) is None
    in_progress = requests.claim("a", now=START + timedelta(seconds=1))
    assert in_progress is not None and in_progress.status == 0
    requests.remember("a", status=200, body='{"ok":true}', content_type="application/json")
    seen = requests.claim("a", now=START + timedelta(seconds=2))
    assert seen is not None
    assert (seen.status, seen.body, seen.content_type) == (200, '{"ok":true}', "application/json")

    assert requests.claim("b", now=START) is None
    requests.release("b")
    assert requests.claim("b", now=START + timedelta(seconds=3)) is None

    # A claim abandoned in progress (its process died) is taken over once; an answer never is.
    late = START + timedelta(minutes=2)
    assert requests.claim("b", now=late, abandoned_before=late - timedelta(minutes=1)) is None
    assert requests.claim("b", now=late, abandoned_before=late - timedelta(minutes=1)) is not None
    assert requests.claim("a", now=late, abandoned_before=late) is not None

    assert requests.prune(before=START + timedelta(minutes=1)) == 1  # "a"; "b" was taken over
    assert requests.claim("a", now=late) is None


def test_racing_claims_of_one_key_have_one_winner(requests: SqlRequestLog) -> None:
    start = threading.Barrier(8)

    def claim(_: int) -> bool:
        start.wait()
        return requests.claim("race", now=START) is None

    with ThreadPoolExecutor(8) as pool:
        won = list(pool.map(claim, range(8)))
    assert won.count(True) == 1


def _signed(body: str) -> dict[str, str]:
    return {k.lower(): v for k, v in signature_headers(body).items()}


def test_a_failed_first_delivery_lets_the_retry_act(requests: SqlRequestLog) -> None:
    replays = SlackReplays(requests=requests, signing_secret=SIGNING_SECRET)
    body = '{"type":"event_callback","event_id":"Ev50","event":{}}'
    headers = {"content-type": "application/json", **_signed(body)}
    calls: list[int] = []

    def broken() -> Answer:
        calls.append(1)
        raise RuntimeError("the database went away")

    with pytest.raises(RuntimeError):
        replays.answer(body=body.encode(), headers=headers, handle=broken)
    assert replays.answer(body=body.encode(), headers=headers,
                          handle=lambda: Answer(503, "busy")) == Answer(503, "busy")
    assert replays.answer(body=body.encode(), headers=headers,
                          handle=lambda: Answer(200)) == Answer(200)
    assert replays.answer(body=body.encode(), headers=headers,
                          handle=lambda: Answer(418)) == Answer(200)
    assert calls == [1]


def test_an_unsigned_request_is_refused_before_the_log(requests: SqlRequestLog) -> None:
    replays = SlackReplays(requests=requests, signing_secret=SIGNING_SECRET)
    body = "command=%2Fincident&text=declare"
    for headers in ({}, {"x-slack-request-timestamp": "yesterday", "x-slack-signature": "v0=1"},
                    {**_signed(body), "x-slack-signature": FORGED["X-Slack-Signature"]},
                    _signed(body + "&text=other")):
        answer = replays.answer(body=body.encode(), headers=headers,
                                handle=lambda: pytest.fail("an unsigned request was handled"))
        assert answer.status == 401
    assert requests.prune(before=datetime.now(UTC) + timedelta(days=1)) == 0
