"""Email end to end: Firebell built by `app.build` with SMTP settings, serving real HTTP to signed
Slack requests (the Web API a fake on loopback), sends to a real SMTP server on loopback
(aiosmtpd): a page by email, a stakeholder update to a service's follower, the
postmortem-published notice; a refused page fails over, an unreachable server is retried."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.paths import DEMO_CATALOG
from tests.support.slack_helpers import Harness, free_port
from tests.support.smtp_server import SmtpServer
from workflows.clock import FakeClock

pytestmark = pytest.mark.slow

START = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)  # alice primary, bob secondary
DECLARE = "declare service=checkout severity=critical urgency=high"


def _catalog(tmp_path: Path) -> Path:
    """The demo catalog; Alice is paged by email first (chat 5 minutes later), Grace is a
    stakeholder with an address."""
    text = DEMO_CATALOG.read_text().replace(
        "slack: U0ALICE, timezone: Europe/Berlin}",
        "slack: U0ALICE, timezone: Europe/Berlin,\n"
        "     notify: [{channel: email}, {channel: chat, after: 5m}]}",
    ).replace("\nteams:", "\n  - {id: grace, name: Grace Green, email: grace@example.com, "
                          "slack: U0GRACE}\n\nteams:", 1)
    path = tmp_path / "catalog.yaml"
    path.write_text(text)
    return path


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


def _harness(tmp_path: Path, port: int) -> Harness:
    return Harness(tmp_path, clock=FakeClock(START), catalog=_catalog(tmp_path),
                   smtp_host="127.0.0.1", smtp_port=port, smtp_from="firebell@example.com")


@pytest.fixture
def h(tmp_path: Path, smtp: SmtpServer) -> Iterator[Harness]:
    harness = _harness(tmp_path, smtp.port)
    yield harness
    harness.close()


def _say(h: Harness, words: str, *, user: str, channel: str = "C0GENERAL") -> str:
    command, _, text = words.removeprefix("/").partition(" ")
    response, key = h.slack.command(f"/{command}", text, user=user, channel=channel)
    assert response.status_code == 200
    [reply] = h.fake.wait_for_response(key)
    return str(reply)


def _declare(h: Harness) -> tuple[int, str]:
    reply = _say(h, f"/incident {DECLARE} Checkout down", user="U0BOB")
    incident_id = int(reply.split()[1].removeprefix("INC-"))
    channel = h.fake.wait_for(
        lambda: [i.channel for i in h.incidents() if i.id == incident_id and i.channel])[0]
    return incident_id, channel


def test_page_update_and_postmortem_by_email(h: Harness, smtp: SmtpServer) -> None:
    assert "You follow stakeholder updates of Checkout API" in _say(
        h, "/oncall subscribe checkout", user="U0GRACE")
    incident_id, channel = _declare(h)

    # Alice's page goes by email first (her own rule), to her catalog address.
    [(to, page)] = smtp.wait_for(1)
    assert to == ["alice@example.com"]
    assert page["Subject"] == f"[Firebell] INC-{incident_id} (P1) paged: Checkout down"
    assert f"/incident ack INC-{incident_id}" in page.get_content()
    assert h.fake.direct_messages("U0ALICE") == []  # chat comes 5 minutes later

    # Erin follows the incident with the announcement's "Follow updates" button.
    response, key = h.slack.button("subscribe", str(incident_id), user="U0ERIN", channel="C0ANN")
    assert response.status_code == 200
    assert h.fake.wait_for_response(key) == [
        f"You follow INC-{incident_id} Checkout down: its updates reach you by email (if the "
        "catalog has your address) and here."]

    # A status update for stakeholders reaches the service's and the incident's followers.
    assert _say(h, "/incident ack", user="U0ALICE", channel=channel).startswith("You acknowledged")
    _say(h, "/incident status identified --stakeholders Bad deploy, rolling back", user="U0BOB",
         channel=channel)
    (to, update) = smtp.wait_for(2)[1]
    assert sorted(to) == ["erin@example.com", "grace@example.com"]
    assert f"INC-{incident_id}" in update["Subject"]
    assert "Bad deploy, rolling back" in update.get_content()
    assert h.fake.wait_for(lambda: [m for m in h.fake.direct_messages("U0GRACE")
                                    if "Bad deploy" in m.params["text"]])

    # Resolved, drafted, published by Alice: the followers and the commander (Bob) are told.
    _say(h, "/incident resolve", user="U0BOB", channel=channel)
    _say(h, "/incident postmortem", user="U0BOB", channel=channel)
    _say(h, "/incident postmortem publish", user="U0ALICE", channel=channel)  # not told
    (to, notice) = smtp.wait_for(3)[2]
    assert sorted(to) == ["bob@example.com", "erin@example.com", "grace@example.com"]
    assert notice["Subject"] == f"[Firebell] Postmortem published: INC-{incident_id} Checkout down"
    assert len({m["Message-ID"] for _, m in smtp.messages}) == 3


def test_a_refused_email_page_fails_over_to_chat_at_once(h: Harness, smtp: SmtpServer) -> None:
    smtp.refuse("alice@example.com", "550 5.1.1 mailbox unavailable")
    incident_id, _ = _declare(h)
    # No clock moved: the chat page that waited 5 minutes goes now.
    [dm] = h.fake.wait_for(lambda: h.fake.direct_messages("U0ALICE"))
    assert f"INC-{incident_id}" in dm.params["text"]
    [failed] = h.fake.wait_for(lambda: h.events(incident_id, "page_failed"))
    assert "550 5.1.1 mailbox unavailable" in failed.text
    assert smtp.messages == []


def test_an_unreachable_smtp_server_is_retried(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there yet
    h = _harness(tmp_path, port)
    smtp = SmtpServer(port=port)
    try:
        _say(h, "/oncall subscribe checkout", user="U0GRACE")
        incident_id, channel = _declare(h)
        _say(h, "/incident status identified --stakeholders Rolling back", user="U0BOB",
             channel=channel)
        h.fake.wait_for(lambda: [e for e in h.events(incident_id, "stakeholders_notified")])

        def retrying() -> list[object]:  # given back with a backoff after a failed attempt
            with h.firebell.store.transaction() as tx:
                return [e for e in tx.pending_effects(incident_id=incident_id)
                        if e.kind.value == "email" and e.not_before > h.clock.now()]

        h.fake.wait_for(retrying)
        smtp.start()
        h.clock.advance(timedelta(seconds=5))
        h.firebell.tick()
        [(to, update)] = smtp.wait_for(1)
        assert to == ["grace@example.com"] and "Rolling back" in update.get_content()
        assert not h.events(incident_id, "delivery_failed") or all(
            "email" not in e.text for e in h.events(incident_id, "delivery_failed"))
    finally:
        h.close()
        smtp.stop()


def test_paging_by_email_without_smtp_is_said(tmp_path: Path) -> None:
    from app import Settings, email_warnings
    from workflows.catalog.load import load_catalog

    catalog = load_catalog(str(_catalog(tmp_path)))
    [warning] = email_warnings(Settings(_env_file=None), catalog)  # type: ignore[call-arg]
    assert "SMTP_URL or SMTP_HOST unset" in warning and "person alice" in warning
    assert email_warnings(Settings(_env_file=None, smtp_url="smtp://mail.example.com"),  # type: ignore[call-arg]
                          catalog) == []
    assert email_warnings(Settings(_env_file=None), load_catalog(str(DEMO_CATALOG))) == []  # type: ignore[call-arg]
