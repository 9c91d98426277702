"""Paging through Twilio, end to end: the real adapter against a fake Twilio REST API on loopback,
and Twilio's signed callbacks into the real HTTP server (SMS replies, key presses, delivery
reports). Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.etree import ElementTree

import httpx
import pytest

from tests.support.twilio_app import ALICE, BOB, TwilioApp
from tests.support.twilio_fake import (
    ACCOUNT_SID,
    FROM_NUMBER,
    FakeTwilio,
    callback_query,
    signed_post,
    twilio_signature,
)
from workflows.deadlines import run_due
from workflows.model import PageStatus, State
from workflows.outbox import LEASE_SECONDS
from workflows.paging.escalation import on_ack_timeout


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio() as fake:
        yield fake


@pytest.fixture
def world(tmp_path: Path, database_url: str, twilio: FakeTwilio) -> Iterator[TwilioApp]:
    world = TwilioApp(tmp_path, database_url, twilio)
    yield world
    world.close()


def _gather(twiml: str) -> ElementTree.Element:
    gather = ElementTree.fromstring(twiml).find("Gather")
    assert gather is not None, twiml
    return gather


def test_sms_and_voice_pages_go_out_on_twilios_paths_with_their_fields(world: TwilioApp) -> None:
    incident_id = world.declare()
    posts = [(path, form) for method, path, form in world.twilio.requests if method == "POST"]
    assert sorted(path.rsplit("/", 1)[1] for path, _ in posts) == ["Calls.json", "Messages.json"]
    assert all(path.startswith(f"/2010-04-01/Accounts/{ACCOUNT_SID}/") for path, _ in posts)

    [sms] = world.twilio.messages(ALICE)
    assert sms.from_ == FROM_NUMBER
    assert "Checkout is down" in sms.body and "Reply 1 to acknowledge" in sms.body
    [call] = world.twilio.calls(ALICE)
    gather = _gather(call.body)
    assert gather.get("numDigits") == "1"
    action = gather.get("action") or ""
    assert action.startswith(f"{world.url}/twilio/voice?")
    assert callback_query(action)["incident"] == str(incident_id)
    say = gather.find("Say")
    assert say is not None and "Checkout is down" in (say.text or "")
    assert "Press 1 to acknowledge" in (say.text or "")
    for sent in (sms, call):
        assert sent.status_callback and sent.status_callback.startswith(f"{world.url}/twilio/status?")
    # Each page keeps the SID Twilio gave it, for delivery reports to find.
    with world.firebell.store.transaction() as tx:
        refs = {p.channel: p.ref for p in tx.pages(incident_id)}
    assert refs == {"sms": sms.sid, "voice": call.sid}


def test_an_sms_reply_acknowledges_the_latest_page(world: TwilioApp) -> None:
    incident_id = world.declare()
    url = f"{world.url}/twilio/sms"
    answer = signed_post(url, {"From": ALICE, "To": FROM_NUMBER, "Body": " ack ",
                               "MessageSid": "SM" + "0" * 32, "AccountSid": ACCOUNT_SID})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/xml")
    message = ElementTree.fromstring(answer.text).find("Message")
    assert message is not None and (message.text or "").startswith("Acknowledged")
    assert world.state(incident_id) == State.ACKNOWLEDGED

    again = signed_post(url, {"From": ALICE, "To": FROM_NUMBER, "Body": "1"})
    assert "Not acknowledged" in again.text
    stranger = signed_post(url, {"From": "+15550177777", "To": FROM_NUMBER, "Body": "1"})
    assert "does not know this number" in stranger.text


def test_a_key_press_acknowledges_the_incident_of_that_call(world: TwilioApp) -> None:
    incident_id = world.declare()
    [call] = world.twilio.calls(ALICE)
    action = _gather(call.body).get("action") or ""
    other = signed_post(action, {"CallSid": call.sid, "Digits": "7", "From": FROM_NUMBER})
    assert other.status_code == 200
    assert _gather(other.text).get("action") == action  # asked again, same place
    assert world.state(incident_id) == State.TRIGGERED

    pressed = signed_post(action, {"CallSid": call.sid, "Digits": "1", "From": FROM_NUMBER})
    assert pressed.status_code == 200 and "Acknowledged incident" in pressed.text
    assert world.state(incident_id) == State.ACKNOWLEDGED
    assert "acknowledged" in world.kinds(incident_id)


@pytest.mark.parametrize("signature", ["", "bm90IGEgc2lnbmF0dXJl", "wrong-token"])
def test_a_bad_or_missing_signature_is_refused_and_changes_nothing(
    world: TwilioApp, signature: str
) -> None:
    incident_id = world.declare()
    [sms] = world.twilio.messages(ALICE)
    [call] = world.twilio.calls(ALICE)
    action = _gather(call.body).get("action") or ""

    def post(url: str, params: dict[str, str]) -> httpx.Response:
        if signature == "wrong-token":
            return signed_post(url, params, token="not-the-auth-token")
        return signed_post(url, params, signature=signature)

    assert post(f"{world.url}/twilio/sms", {"From": ALICE, "Body": "1"}).status_code == 403
    assert post(action, {"Digits": "1", "CallSid": call.sid}).status_code == 403
    assert post(sms.status_callback or "", {"MessageSid": sms.sid,
                                            "MessageStatus": "undelivered"}).status_code == 403
    # Signed for another URL (a replay against a different path) is refused as well.
    params = {"From": ALICE, "Body": "1"}
    replay = httpx.post(f"{world.url}/twilio/sms", data=params, headers={
        "X-Twilio-Signature": twilio_signature(f"{world.url}/twilio/voice", params)})
    assert replay.status_code == 403
    assert world.state(incident_id) == State.TRIGGERED
    assert all(status == PageStatus.SENT for _, _, status in world.pages(incident_id))
    assert "page_failed" not in world.kinds(incident_id)


def test_an_undelivered_sms_fails_over_to_the_next_channel_at_once(world: TwilioApp) -> None:
    # Bob's own rule: SMS now, a call after 5 minutes. His SMS bounces: he is called now.
    world.twilio.undeliverable.add(BOB)
    incident_id = world.declare(severity="major")  # P2: step 1 is Alice by SMS
    [alice_sms] = world.twilio.messages(ALICE)
    assert world.twilio.report(alice_sms, "delivered") == 204
    with world.firebell.store.transaction() as tx:
        assert {p.provider_status for p in tx.pages(incident_id)} == {"delivered"}
    # Nobody acknowledged: the escalation reaches Bob (step 2).
    with world.firebell.ctx.unit() as uow:
        incident = uow.incidents.get_incident(incident_id, for_update=True)
        deadline = next(d for d in uow.deadlines.pending_deadlines(incident_id)
                        if d.kind.value == "escalate")
        on_ack_timeout(world.firebell.ctx, uow, incident, deadline)
    [bob_sms] = world.twilio.messages(BOB)
    started = time.monotonic()
    world.twilio.wait_for(lambda: world.twilio.calls(BOB), timeout=5)
    assert time.monotonic() - started < 5  # not the 5 minutes of his rule, nor the ack timeout
    assert world.twilio.callbacks[-1][1] == 204
    # The call reached Twilio; Firebell records Twilio's answer a moment later.
    world.twilio.wait_for(lambda: ("bob", "voice", PageStatus.SENT) in world.pages(incident_id))
    pages = world.pages(incident_id)
    assert ("bob", "sms", PageStatus.FAILED) in pages
    assert "page_failover" in world.kinds(incident_id)
    assert bob_sms.status == "undelivered"


def test_throttling_and_server_errors_are_retried_with_backoff(world: TwilioApp) -> None:
    world.twilio.fail_next(429, 500, 503)
    incident_id = world.declare(severity="major")
    assert [s.to for s in world.twilio.messages()] == [ALICE]
    statuses = [p[2] for p in world.pages(incident_id)]
    assert statuses == [PageStatus.SENT]
    assert len([r for r in world.twilio.requests if r[0] == "POST"]) == 4


def test_an_invalid_number_fails_at_once_and_falls_over(world: TwilioApp) -> None:
    world.twilio.invalid_numbers.add(ALICE)
    world.twilio.fail_next()  # nothing to fail: the 400 is final without retrying
    incident_id = world.declare(severity="major")
    posts = [r for r in world.twilio.requests if r[0] == "POST"]
    assert len([r for r in posts if r[1].endswith("Messages.json")]) == 1
    with world.firebell.store.transaction() as tx:
        [sms] = [p for p in tx.pages(incident_id) if p.channel == "sms"]
    assert sms.status == PageStatus.FAILED and "21211" in (sms.error or "")
    # The SMS could never arrive: her next channel, chat, is tried at once instead (and fails
    # too, saying why: this server has no Slack, and a page it cannot deliver is never "sent").
    assert ("alice", "chat", PageStatus.FAILED) in world.pages(incident_id)
    assert "page_failover" in world.kinds(incident_id)


def test_the_vcard_lists_every_paging_number(world: TwilioApp) -> None:
    answer = httpx.get(f"{world.url}/api/v1/contact.vcf")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/vcard")
    lines = answer.text.split("\r\n")
    assert lines[:2] == ["BEGIN:VCARD", "VERSION:3.0"]
    assert "FN:Firebell paging" in lines and "END:VCARD" in lines
    tels = [line.split(":", 1)[1] for line in lines if line.startswith("TEL")]
    assert tels == [FROM_NUMBER, "+15550109998"]


class Crash(BaseException):
    """The process dying: not an error any code handles."""


PAGE_LEASE = LEASE_SECONDS["page"]


def test_a_page_cut_off_by_a_crash_is_found_at_twilio_not_sent_again(world: TwilioApp) -> None:
    """The window between Twilio accepting a page and the store marking it sent."""
    ctx = world.firebell.ctx
    pager = ctx.pagers["sms"]
    send = pager.send_page

    def send_then_die(**kwargs: Any) -> str:
        send(**kwargs)
        raise Crash

    pager.send_page = send_then_die  # type: ignore[method-assign]
    with pytest.raises(Crash):
        world.declare(severity="major")
    pager.send_page = send  # type: ignore[method-assign]
    [sms] = world.twilio.messages(ALICE)
    with ctx.store.transaction() as tx:
        [incident] = tx.list_incidents()
        assert incident.id is not None
        [page] = tx.pages(incident.id)
    assert page.status == PageStatus.SENDING and page.ref is None

    # Until the delivery's lease runs out, the first attempt might still be talking to Twilio.
    world.clock.advance(timedelta(seconds=PAGE_LEASE - 1))
    run_due(ctx)
    assert world.pages(incident.id)[0][2] == PageStatus.SENDING  # it might still be on its way
    world.clock.advance(timedelta(seconds=2))
    run_due(ctx)
    with ctx.store.transaction() as tx:
        [page] = tx.pages(incident.id)
    assert page.status == PageStatus.SENT and page.ref == sms.sid
    assert len(world.twilio.messages()) == 1
    assert "page_in_doubt" in world.kinds(incident.id)
    assert any(method == "GET" for method, _, _ in world.twilio.requests)


def test_a_page_cut_off_before_twilio_got_it_is_sent_again_once(world: TwilioApp) -> None:
    """The window between claiming a page and Twilio accepting it."""
    ctx = world.firebell.ctx
    pager = ctx.pagers["sms"]
    send = pager.send_page

    def die(**kwargs: Any) -> str:
        raise Crash

    pager.send_page = die  # type: ignore[method-assign]
    with pytest.raises(Crash):
        world.declare(severity="major")
    pager.send_page = send  # type: ignore[method-assign]
    assert world.twilio.messages() == []
    world.clock.advance(timedelta(seconds=PAGE_LEASE + 1))
    run_due(ctx)
    assert len(world.twilio.messages(ALICE)) == 1
    world.clock.advance(timedelta(minutes=2))
    run_due(ctx)
    assert len(world.twilio.messages(ALICE)) == 1
    statuses = [status for _, _, status in world.pages(1)]
    assert statuses == [PageStatus.SENT]


def test_status_callbacks_carry_the_page(world: TwilioApp) -> None:
    incident_id = world.declare(severity="major")
    [sms] = world.twilio.messages(ALICE)
    query = parse_qs(urlsplit(sms.status_callback or "").query)
    assert query["incident"] == [str(incident_id)] and sms.page is not None


def test_an_sms_twilio_took_but_answered_500_is_not_sent_twice(world: TwilioApp) -> None:
    world.twilio.accept_then_fail = 1
    incident_id = world.declare(severity="major")
    assert len(world.twilio.messages(ALICE)) == 1  # the retry found it at Twilio first
    [(person, channel, status)] = world.pages(incident_id)
    assert (person, channel, status) == ("alice", "sms", PageStatus.SENT)
    assert any(method == "GET" for method, _, _ in world.twilio.requests)


def test_an_sms_twilio_accepts_after_the_client_timed_out_is_not_sent_twice(world: TwilioApp) -> None:
    """Twilio takes the message only after our client gave up waiting (its 10 s, scaled down
    here): the look-up waits for that request to finish at Twilio before it concludes anything."""
    pager = world.firebell.ctx.pagers["sms"]
    pager.client.http_client.timeout = 1.0  # type: ignore[attr-defined]
    pager._timeout = 1.0  # type: ignore[attr-defined]
    world.twilio.inject("sms", delay=1.6, times=1)  # acted on 0.6 s after we gave up
    incident_id = world.declare(severity="major")
    time.sleep(1.0)  # the delayed request has surely landed at Twilio by now
    assert len(world.twilio.messages(ALICE)) == 1
    [(person, channel, status)] = world.pages(incident_id)
    assert (person, channel, status) == ("alice", "sms", PageStatus.SENT)


def test_a_call_cut_off_by_a_crash_is_known_by_twilios_callback_not_made_again(
    world: TwilioApp,
) -> None:
    """A call carries nothing Twilio lists back; its status callback URL names the page. The
    "initiated" callback that arrives while the sender is gone settles the page as sent."""
    ctx = world.firebell.ctx
    pager = ctx.pagers["voice"]
    send = pager.send_page

    def call_then_die(**kwargs: Any) -> str:
        if kwargs["page"].channel == "voice":
            send(**kwargs)
            raise Crash
        return send(**kwargs)

    pager.send_page = call_then_die  # type: ignore[method-assign]
    with pytest.raises(Crash):
        world.declare()  # P1: a call and an SMS to Alice
    pager.send_page = send  # type: ignore[method-assign]
    [call] = world.twilio.calls(ALICE)
    assert world.twilio.report(call, "initiated") == 204  # Twilio calls back while we are down
    world.clock.advance(timedelta(seconds=PAGE_LEASE + 1))
    run_due(ctx)
    world.clock.advance(timedelta(minutes=1))
    run_due(ctx)
    assert len(world.twilio.calls(ALICE)) == 1  # not called twice
    with ctx.store.transaction() as tx:
        [incident] = tx.list_incidents()
        voice = [p for p in tx.pages(incident.id or 0) if p.channel == "voice"]
    assert [(p.status, p.ref) for p in voice] == [(PageStatus.SENT, call.sid)]
    calls_listed = [q for method, path, q in world.twilio.requests
                    if method == "GET" and path.endswith("Calls.json")]
    assert calls_listed == []  # known from the callback, not guessed from the call list
