"""The forms (modals) through real Bolt over real HTTP with signed requests: each opens from its
bare command or its card button (views.open on the fake Web API, a view within Block Kit's
limits), is submitted as Slack submits it (view_submission with `state.values` in Slack's
shape), and changes the incident; the declaration still works with 300 services (an external
select answered through block_suggestion)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.blockkit import assert_valid_message, assert_valid_view, block_kit_problems
from tests.support.paths import DEMO_CATALOG
from tests.support.slack_fake import TEAM
from tests.support.slack_helpers import Harness, modal_values
from workflows.clock import FakeClock
from workflows.model import Stage

pytestmark = pytest.mark.slow

START = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
DECLARE = "declare service=checkout severity=critical urgency=high"


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path, clock=FakeClock(START))
    yield harness
    try:
        _every_view_and_message_is_valid(harness)
    finally:
        harness.close()


def _every_view_and_message_is_valid(h: Harness) -> None:
    """Block Kit's limits, on everything the test made Firebell send."""
    for call in h.fake.calls_to("views.open") + h.fake.calls_to("views.update"):
        assert_valid_view(call.params["view"])
    for call in h.fake.calls_to("chat.postMessage") + h.fake.calls_to("chat.update"):
        assert_valid_message(call.params)


# Slack's view_submission `state.values`, one helper per element type ----------------------------
def select(value: str, kind: str = "static_select") -> dict[str, Any]:
    return {"value": {"type": kind, "selected_option": {
        "text": {"type": "plain_text", "text": value}, "value": value}}}


def text(value: str | None) -> dict[str, Any]:
    return {"value": {"type": "plain_text_input", "value": value}}


def user(value: str | None) -> dict[str, Any]:
    return {"value": {"type": "users_select", "selected_user": value}}


def users(*values: str) -> dict[str, Any]:
    return {"value": {"type": "multi_users_select", "selected_users": list(values)}}


def date(value: str) -> dict[str, Any]:
    return {"value": {"type": "datepicker", "selected_date": value}}


def checked(*values: str, action_id: str = "value") -> dict[str, Any]:
    return {action_id: {"type": "checkboxes", "selected_options": [
        {"text": {"type": "plain_text", "text": v}, "value": v} for v in values]}}


def _declare(h: Harness, title: str) -> tuple[int, str]:
    _, key = h.slack.command("/incident", f"{DECLARE} {title}", user="U0BOB")
    [said] = h.fake.wait_for_response(key)
    incident_id = int(said.split()[1].removeprefix("INC-"))
    channel = h.fake.wait_for(
        lambda: [c.channel for c in h.incidents() if c.id == incident_id and c.channel])[0]
    return incident_id, channel


def _opened(h: Harness, count: int = 1) -> dict[str, Any]:
    """The view of the `count`-th views.open, checked against Block Kit's limits."""
    calls = h.fake.wait_for(lambda: h.fake.calls_to("views.open")[count - 1:])
    view: dict[str, Any] = calls[0].params["view"]
    assert_valid_view(view)
    return view


def _blocks(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["block_id"]: b for b in view["blocks"] if "block_id" in b}


def _incident(h: Harness, incident_id: int) -> Any:
    return next(i for i in h.incidents() if i.id == incident_id)


def test_status_form_from_the_bare_command_and_from_the_card_button(h: Harness) -> None:
    incident_id, channel = _declare(h, "Checkout down")
    response, key = h.slack.command("/incident", "status", user="U0BOB", channel=channel)
    assert response.status_code == 200 and response.text == ""
    view = _opened(h)
    assert view["callback_id"] == "firebell_form"
    assert h.fake.calls_to("views.open")[0].params["trigger_id"].startswith("trigger.")
    blocks = _blocks(view)
    stage = blocks["stage"]["element"]
    assert [o["value"] for o in stage["options"]] == [s.value for s in Stage]
    assert stage["initial_option"]["value"] == "Investigating"
    assert blocks["text"]["element"]["multiline"] is True
    assert [o["value"] for o in blocks["audience"]["element"]["options"]] == [
        "stakeholders", "public"]
    assert f"INC-{incident_id}" in view["blocks"][0]["text"]["text"]

    response = h.slack.view_submission(view, {
        "stage": select("Identified"), "text": text("A bad deploy; rolling back"),
        "audience": checked("stakeholders"),
    }, user="U0BOB")
    assert response.status_code == 200 and response.text == ""
    [said] = h.fake.wait_for_response(key)
    assert said == "Status update posted (also to stakeholders)."
    assert _incident(h, incident_id).stage == Stage.IDENTIFIED
    [update] = h.events(incident_id, "status_update")
    assert update.text == "A bad deploy; rolling back" and update.actor == "bob"
    assert update.data["audience"] == ["internal", "stakeholders"]

    # The live card's "Update status" button opens the same form with the click's trigger_id.
    _, button_key = h.slack.button("status", str(incident_id), user="U0ALICE", channel=channel)
    view = _opened(h, 2)
    assert h.fake.calls_to("views.open")[1].params["trigger_id"] != \
        h.fake.calls_to("views.open")[0].params["trigger_id"]
    assert _blocks(view)["stage"]["element"]["initial_option"]["value"] == "Identified"
    h.slack.view_submission(view, {"stage": select("Monitoring"), "text": text("Error rate normal"),
                                   "audience": checked()}, user="U0ALICE")
    assert h.fake.wait_for_response(button_key) == ["Status update posted."]
    assert _incident(h, incident_id).stage == Stage.MONITORING
    assert h.events(incident_id, "status_update")[-1].data["audience"] == ["internal"]


def test_status_typed_with_its_arguments_posts_without_a_form(h: Harness) -> None:
    incident_id, channel = _declare(h, "Typed")
    _, key = h.slack.command("/incident", "status identified Found it", user="U0BOB",
                             channel=channel)
    assert h.fake.wait_for_response(key) == ["Status update posted."]
    assert h.fake.calls_to("views.open") == []
    assert _incident(h, incident_id).stage == Stage.IDENTIFIED


def test_role_form_maps_the_slack_user_and_refuses_a_stranger_in_the_form(h: Harness) -> None:
    incident_id, channel = _declare(h, "Roles")
    _, key = h.slack.button("role", str(incident_id), user="U0BOB", channel=channel)
    view = _opened(h)
    blocks = _blocks(view)
    assert blocks["person"]["element"]["type"] == "users_select"
    assert [o["value"] for o in blocks["role"]["element"]["options"]] == [
        "commander", "comms", "customer", "scribe"]

    # Someone Slack knows but the catalog does not: the form says so and stays open.
    refused = h.slack.view_submission(view, {"role": select("comms"), "person": user("U0STRANGER")},
                                      user="U0BOB")
    assert refused.status_code == 200
    answer = refused.json()
    assert answer["response_action"] == "errors"
    assert "not in Firebell's catalog" in answer["errors"]["person"]
    assert "comms" not in _incident(h, incident_id).roles

    h.slack.view_submission(view, {"role": select("comms"), "person": user("U0ERIN")}, user="U0BOB")
    assert h.fake.wait_for_response(key) == ["Communications lead: Erin Engel."]
    assert _incident(h, incident_id).roles["comms"] == "erin"


def test_severity_form_changes_severity_or_sets_the_priority(h: Harness) -> None:
    incident_id, channel = _declare(h, "Severity")
    _, key = h.slack.command("/incident", "severity", user="U0BOB", channel=channel)
    view = _opened(h)
    blocks = _blocks(view)
    assert blocks["severity"]["element"]["initial_option"]["value"] == "critical"
    assert blocks["priority"]["optional"] is True
    h.slack.view_submission(view, {"severity": select("major"), "priority": {"value": {
        "type": "static_select", "selected_option": None}}}, user="U0BOB")
    assert h.fake.wait_for_response(key) == [f"INC-{incident_id} is now P2."]
    incident = _incident(h, incident_id)
    assert (incident.severity, incident.priority) == ("major", "P2")

    _, key = h.slack.command("/incident", f"priority INC-{incident_id}", user="U0BOB")
    view = _opened(h, 2)
    assert _blocks(view)["severity"]["element"]["initial_option"]["value"] == "major"
    h.slack.view_submission(view, {"severity": select("major"), "priority": select("P3")},
                            user="U0BOB")
    assert h.fake.wait_for_response(key) == [f"INC-{incident_id} is now P3."]
    assert _incident(h, incident_id).priority == "P3"


def test_escalate_form_from_the_card_button_pages_the_group(h: Harness) -> None:
    incident_id, channel = _declare(h, "Escalate")
    _, key = h.slack.button("escalate", str(incident_id), user="U0BOB", channel=channel)
    view = _opened(h)
    assert [o["value"] for o in _blocks(view)["group"]["element"]["options"]] == ["exec", "comms"]
    h.slack.view_submission(view, {"group": select("exec"),
                                   "reason": text("Customers may need a credit")}, user="U0BOB")
    assert h.fake.wait_for_response(key) == ["Escalated to exec: Erin Engel."]
    [event] = h.events(incident_id, "escalated_to_group")
    assert event.text == "exec: Customers may need a credit"


def test_page_form_pages_the_people_picked_and_needs_someone(h: Harness) -> None:
    incident_id, channel = _declare(h, "Page")
    _, key = h.slack.command("/incident", "page", user="U0BOB", channel=channel)
    view = _opened(h)
    blocks = _blocks(view)
    assert blocks["people"]["element"]["type"] == "multi_users_select"
    assert [o["value"] for o in blocks["team"]["element"]["options"]] == ["payments"]

    nobody = h.slack.view_submission(view, {"people": users(), "team": {"value": {
        "type": "static_select", "selected_option": None}}}, user="U0BOB")
    assert nobody.json()["response_action"] == "errors"
    assert h.events(incident_id, "manual_page") == []

    h.slack.view_submission(view, {"people": users("U0ERIN"), "team": {"value": {
        "type": "static_select", "selected_option": None}}}, user="U0BOB")
    assert h.fake.wait_for_response(key) == ["Paged Erin Engel."]
    [event] = h.events(incident_id, "manual_page")
    assert "Erin" in event.text
    h.fake.wait_for(lambda: h.fake.direct_messages("U0ERIN"))


def test_action_item_form_with_owner_due_date_and_ticket_toggle(h: Harness) -> None:
    incident_id, channel = _declare(h, "Actions")
    _, key = h.slack.command("/incident", "action", user="U0BOB", channel=channel)
    view = _opened(h)
    blocks = _blocks(view)
    assert blocks["owner"]["element"]["type"] == "users_select"
    assert blocks["due"]["element"]["type"] == "datepicker"
    toggle = blocks["ticket"]["element"]
    assert toggle["initial_options"] == toggle["options"]  # a ticket unless unticked

    h.slack.view_submission(view, {
        "what": text("Add a canary stage"), "owner": user("U0ERIN"), "due": date("2026-12-01"),
        "ticket": checked(action_id="toggle"),
    }, user="U0BOB")
    [said] = h.fake.wait_for_response(key)
    assert said == ("AI-1 for Erin Engel, due 2026-12-01: Add a canary stage. "
                    "No ticket, as asked: tracked in Firebell only.")
    [event] = h.events(incident_id, "action_added")
    assert "Add a canary stage" in event.text and "Erin Engel" in event.text

    _, key = h.slack.command("/incident", "action", user="U0BOB", channel=channel)
    view = _opened(h, 2)
    h.slack.view_submission(view, {
        "what": text("Alert on PSP latency"), "owner": user("U0ALICE"), "due": date("2026-12-03"),
        "ticket": checked("yes", action_id="toggle"),
    }, user="U0BOB")
    [said] = h.fake.wait_for_response(key)
    assert said.endswith("No ticket system is configured: tracked in Firebell only.")


def test_postmortem_review_form_records_the_note(h: Harness) -> None:
    incident_id, channel = _declare(h, "Postmortem")
    _, key = h.slack.command("/incident", "resolve", user="U0BOB", channel=channel)
    h.fake.wait_for_response(key)
    _, key = h.slack.command("/incident", "postmortem", user="U0BOB", channel=channel)
    assert h.fake.wait_for_response(key)[0].startswith("Postmortem draft")

    _, key = h.slack.command("/incident", "review", user="U0BOB", channel=channel)
    view = _opened(h)
    assert [o["value"] for o in _blocks(view)["step"]["element"]["options"]] == [
        "review", "publish"]
    h.slack.view_submission(view, {"step": select("review"),
                                   "note": text("Timeline checked with payments")}, user="U0BOB")
    [said] = h.fake.wait_for_response(key)
    assert said == f"The postmortem of INC-{incident_id} is in review (your note is on the timeline)."
    [event] = h.events(incident_id, "postmortem_state")
    assert event.text.endswith(": Timeline checked with payments")
    assert event.data["note"] == "Timeline checked with payments"


def test_a_form_is_refused_to_someone_who_may_not_use_it(h: Harness) -> None:
    incident_id, channel = _declare(h, "Strangers")
    _, key = h.slack.button("escalate", str(incident_id), user="U0STRANGER", channel=channel)
    [said] = h.fake.wait_for_response(key)
    assert said.startswith(":warning:") and "U0STRANGER" in said
    assert h.fake.calls_to("views.open") == []


# 300 services: an external select, answered through block_suggestion ----------------------------
def _big_catalog(tmp_path: Path) -> Path:
    catalog = yaml.safe_load(DEMO_CATALOG.read_text())
    catalog["services"] += [{"id": f"svc-{n:03d}", "name": f"Service {n:03d}", "team": "payments",
                             "match": {"service": f"svc-{n:03d}"}} for n in range(1, 300)]
    path = tmp_path / "big.yaml"
    path.write_text(yaml.safe_dump(catalog))
    return path


def test_declare_with_300_services_uses_an_external_select(tmp_path: Path) -> None:
    h = Harness(tmp_path, clock=FakeClock(START), catalog=_big_catalog(tmp_path))
    try:
        _, key = h.slack.command("/incident", "declare Search is slow", user="U0BOB")
        view = _opened(h)
        service = _blocks(view)["service"]["element"]
        assert service["type"] == "external_select" and "options" not in service
        assert service["min_query_length"] >= 1

        def suggest(query: str) -> list[dict[str, Any]]:
            response = h.slack.interactive({
                "type": "block_suggestion", "team": {"id": TEAM}, "user": {"id": "U0BOB"},
                "api_app_id": "A0FIREBELL", "action_id": "value", "block_id": "service",
                "value": query, "container": {"type": "view", "view_id": "V0FIREBELL"},
                "view": {"type": "modal", "id": "V0FIREBELL", **view},
            })
            assert response.status_code == 200
            options: list[dict[str, Any]] = response.json()["options"]
            assert all(len(o["text"]["text"]) <= 75 for o in options)
            return options

        assert [o["value"] for o in suggest("service 25")] == [
            f"svc-{n}" for n in range(250, 260)]
        assert len(suggest("service")) == 100  # never past Slack's limit
        assert [o["value"] for o in suggest("checkout")] == ["checkout"]
        assert suggest("no such thing") == []

        values = modal_values(title="Search is slow", service="svc-257")
        values["service"] = {"value": {"type": "external_select", "selected_option": {
            "text": {"type": "plain_text", "text": "Service 257"}, "value": "svc-257"}}}
        h.slack.view_submission(view, values, user="U0BOB")
        [said] = h.fake.wait_for_response(key)
        assert said.startswith("Declared INC-1 (P1)"), said
        assert h.incidents()[0].service == "svc-257"
        _every_view_and_message_is_valid(h)
    finally:
        h.close()


# the Block Kit checker itself -----------------------------------------------------------------
def test_the_block_kit_checker_catches_what_slack_would_refuse() -> None:
    options = [{"text": {"type": "plain_text", "text": f"Option {n}"}, "value": str(n)}
               for n in range(101)]
    view = {
        "type": "modal", "callback_id": "x", "title": {"type": "plain_text", "text": "A" * 25},
        "submit": {"type": "plain_text", "text": "Go"},
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "H" * 151}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "s" * 3001}},
            {"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11},
            {"type": "input", "block_id": "a", "label": {"type": "plain_text", "text": "A"},
             "element": {"type": "static_select", "action_id": "value", "options": options}},
            {"type": "input", "block_id": "b", "label": {"type": "plain_text", "text": "B"},
             "element": {"type": "static_select", "action_id": "value", "options": [
                 {"text": {"type": "plain_text", "text": "o" * 76}, "value": "v"}]}},
            {"type": "actions", "elements": [
                {"type": "button", "action_id": f"b{n}", "value": "1",
                 "text": {"type": "plain_text", "text": "Go"}} for n in range(26)]},
        ] + [{"type": "divider"}] * 95,
    }
    problems = "\n".join(block_kit_problems(view=view))
    for expected in ("101 blocks", "view title: 25 characters", "text: 151 characters",
                     "text: 3001 characters", "11 fields", "101 options",
                     "option text: 76 characters", "26 elements"):
        assert expected in problems, (expected, problems)
    field = {"type": "section", "fields": [{"type": "mrkdwn", "text": "x" * 2001}]}
    assert "2001 characters" in "".join(block_kit_problems(blocks=[field]))
    assert block_kit_problems(blocks=[{"type": "section", "text": {
        "type": "mrkdwn", "text": "fine"}}]) == []
    assert json.dumps(view)  # the view itself is plain JSON
