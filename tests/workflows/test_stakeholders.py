"""Following incidents and services, stakeholder email and the `email` paging channel, in the
workflows (both databases, fake clock, a recording mailer; the real SMTP path is in
tests/adapters/test_smtp.py and tests/e2e/test_email_subscriptions.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from adapters.email_pager import EmailPager
from storage.store import SqlStore
from tests.support.catalogs import PAGING
from tests.support.world import World
from workflows import stakeholders
from workflows.access import NotAllowed
from workflows.followup import postmortem
from workflows.incident import lifecycle
from workflows.model import PageStatus
from workflows.ports import ExternalServiceError

TUESDAY = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
CATALOG = (PAGING
           .replace('{id: alice, name: Alice, slack: UALICE, phone: "+15550100001"}',
                    '{id: alice, name: Alice, slack: UALICE, phone: "+15550100001", '
                    'email: alice@example.com, notify: [{channel: email}, {channel: chat, after: 5m}]}')
           .replace('{id: erin, name: Erin, slack: UERIN, phone: "+15550100004"}',
                    '{id: erin, name: Erin, slack: UERIN, phone: "+15550100004", '
                    'notify: [{channel: email}, {channel: chat, after: 5m}]}')
           .replace("teams:", "  - {id: grace, name: Grace, slack: UGRACE, email: grace@example.com}\n"
                              "  - {id: hank, name: Hank, email: hank@example.com}\nteams:"))


class RecordingMailer:
    def __init__(self) -> None:
        self.sent: list[tuple[list[str], str, str, str]] = []
        self.refuse: set[str] = set()

    def send_email(self, *, to: list[str], subject: str, body: str, message_id: str) -> None:
        if set(to) & self.refuse:
            raise ExternalServiceError("SMTP answered 550 5.1.1 no such user", retryable=False)
        self.sent.append((to, subject, body, message_id))


@pytest.fixture
def world(store: SqlStore) -> World:
    world = World.for_paging(store, TUESDAY, catalog=CATALOG, channels=("chat", "sms"))
    world.ctx.mailer = mailer = RecordingMailer()
    world.ctx.pagers["email"] = EmailPager(
        mailer, email_of=lambda p: world.ctx.catalog.person(p).email,
        channel_url=lambda c: f"https://chat.example/{c}")
    return world


def _mailer(world: World) -> RecordingMailer:
    assert isinstance(world.ctx.mailer, RecordingMailer)
    return world.ctx.mailer


def test_a_page_by_email_goes_to_the_persons_address(world: World) -> None:
    incident = world.declare("Checkout down")
    [(to, subject, body, message_id)] = _mailer(world).sent
    assert to == ["alice@example.com"]
    assert subject == f"[Firebell] {incident.ref} (P1) paged: Checkout down"
    assert "does NOT acknowledge" in body and f"/incident ack {incident.ref}" in body
    assert message_id.startswith("firebell-page-")
    assert ("alice", "email", PageStatus.SENT) in world.pages(incident.id or 0)


def test_a_refused_email_page_fails_over_to_chat_at_once(world: World) -> None:
    _mailer(world).refuse.add("alice@example.com")
    incident_id = world.declare_id()
    assert world.pager.sent == [("alice", "chat", incident_id)]  # not 5 minutes later
    [failed] = world.events(incident_id, "page_failed")
    assert "550 5.1.1 no such user" in failed.text
    assert world.events(incident_id, "page_failover")


def test_a_person_without_an_email_address_fails_over_with_the_reason(world: World) -> None:
    incident_id = world.declare_id()
    world.advance(minutes=5, seconds=1)  # step 2: bob (chat, sms) and erin (email, no address)
    failed = [e.text for e in world.events(incident_id, "page_failed")]
    assert failed == ["page by email to erin failed: erin has no email address in the catalog"]
    assert ("erin", "chat", incident_id) in world.pager.sent
    assert all(to != ["erin"] for to, *_ in _mailer(world).sent)


def test_followers_of_the_incident_and_the_service_get_one_email_and_a_message(world: World) -> None:
    assert "You follow stakeholder updates of Checkout API" in world.say(
        "/oncall subscribe checkout", user="UGRACE")
    assert "already follow" in world.say("/oncall subscribe Checkout API", user="UGRACE")
    incident = world.declare("Checkout down")
    assert world.say(f"/incident subscribe {incident.ref}", user="UFRANK").startswith(
        f"You follow {incident.ref} Checkout down")
    stakeholders.subscribe(world.ctx, person="hank", service="checkout")  # email, no chat
    _mailer(world).sent.clear()
    with world.ctx.unit() as uow:
        stakeholders.notify_stakeholders(world.ctx, uow, world.incident(incident.id or 0),
                                         subject=f"{incident.ref} Identified: Checkout down",
                                         text="Identified: a bad deploy, rolling back.")
    [(to, subject, body, key)] = _mailer(world).sent
    assert to == ["grace@example.com", "hank@example.com"]  # frank has no address
    assert subject == f"[Firebell] {incident.ref} Identified: Checkout down"
    assert "a bad deploy" in body and "/oncall unsubscribe checkout" in body
    assert key.startswith(f"email:{incident.id}:update:")
    directs = {person for person, _ in world.chat.directs if "a bad deploy" in _.text}
    assert directs == {"frank", "grace"}
    assert "service Checkout API (checkout)" in world.say("/oncall subscriptions", user="UGRACE")
    assert "no longer follow" in world.say("/oncall unsubscribe checkout", user="UGRACE")
    assert "You follow nothing" in world.say("/oncall subscriptions", user="UGRACE")


def test_a_restricted_incident_tells_service_followers_no_details(world: World) -> None:
    stakeholders.subscribe(world.ctx, person="grace", service="checkout")
    incident = world.declare("Card data leaked", security=True)
    with pytest.raises(NotAllowed, match="restricted"):
        world.say(f"/incident subscribe {incident.ref}", user="UGRACE")
    assert "You follow" in world.say(f"/incident subscribe {incident.ref}", user="UFRANK")
    _mailer(world).sent.clear()
    with world.ctx.unit() as uow:
        stakeholders.notify_stakeholders(world.ctx, uow, world.incident(incident.id or 0),
                                         subject=f"{incident.ref} Identified: Card data leaked",
                                         text="Identified: the leaked card data came from X")
    [(to, subject, body, _)] = _mailer(world).sent  # frank, who declared it: no address
    assert to == ["grace@example.com"]
    assert "restricted incident" in subject and "Card data" not in subject + body
    told = {p: m.text for p, m in world.chat.directs if "Identified" in m.text
            or "restricted" in m.text}
    assert "leaked" in told["frank"] and "leaked" not in told["grace"]


def test_without_a_mailer_the_timeline_says_email_was_not_sent(world: World) -> None:
    world.ctx.mailer = None
    stakeholders.subscribe(world.ctx, person="grace", service="checkout")
    incident_id = world.declare_id()
    with world.ctx.unit() as uow:
        stakeholders.notify_stakeholders(world.ctx, uow, world.incident(incident_id),
                                         subject="s", text="an update")
    [note] = world.events(incident_id, "email_not_sent")
    assert "email is not configured" in note.text


def test_the_postmortem_published_notice(world: World) -> None:
    stakeholders.subscribe(world.ctx, person="grace", service="checkout")
    incident = world.declare("Checkout down")
    assert incident.id is not None
    lifecycle.resolve(world.ctx, incident_id=incident.id, actor="frank")
    postmortem.draft_postmortem(world.ctx, incident_id=incident.id, actor="frank")
    _mailer(world).sent.clear()
    postmortem.change_state(world.ctx, incident_id=incident.id, to="publish", actor="alice")
    [(to, subject, body, _)] = _mailer(world).sent
    assert to == ["grace@example.com"]  # frank, the commander, has no address: a chat message
    # and alice, who published it, is not told
    assert subject == f"[Firebell] Postmortem published: {incident.ref} Checkout down"
    assert "Checkout down." in body  # the draft's summary
    assert any("Postmortem published" in m.text for p, m in world.chat.directs if p == "frank")
