"""Jira Cloud and GitHub Issues adapters against httpx.MockTransport: real paths and payloads."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime

import httpx
import pytest

from adapters.github_issues import GitHubIssues
from adapters.http import RetryPolicy
from adapters.jira import JiraTickets, adf
from workflows.model import Incident, State
from workflows.ports import ExternalServiceError, SignatureError

FAST = RetryPolicy(backoff=0.001)  # the retries themselves: tests/adapters/test_ticket_retries.py
INCIDENT = Incident(title="Checkout down", service="checkout", team="payments", severity="critical",
                    urgency="high", environment="production", priority="P1",
                    declared_at=datetime(2026, 11, 24, 9, 30, tzinfo=UTC), id=12)


class Recorder:
    def __init__(self, answers: dict[tuple[str, str], object]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, str, object]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        self.calls.append((request.method, request.url.path, body))
        answer = self.answers.get((request.method, request.url.path), {})
        if isinstance(answer, int):
            return httpx.Response(answer, json={"errorMessages": ["nope"]})
        return httpx.Response(200, json=answer)


def jira(answers: dict[tuple[str, str], object]) -> tuple[JiraTickets, Recorder]:
    recorder = Recorder(answers)
    return JiraTickets(url="https://acme.atlassian.net", user="bot@acme.example", api_token="tok",
                       project="OPS", webhook_secret="jsecret", retry=FAST,
                       transport=httpx.MockTransport(recorder)), recorder


def test_jira_open_searches_then_creates_with_adf() -> None:
    tickets, rec = jira({("POST", "/rest/api/3/search/jql"): {"issues": []},
                         ("POST", "/rest/api/3/issue"): {"id": "1", "key": "OPS-7"}})
    assert tickets.open_ticket(incident=INCIDENT, body="Runbook: https://r.example/x") == "OPS-7"
    (m1, p1, search), (m2, p2, created) = rec.calls
    assert isinstance(search, dict) and isinstance(created, dict)
    assert (m1, p1) == ("POST", "/rest/api/3/search/jql") and 'labels = "firebell-inc-12"' in search["jql"]
    fields = created["fields"]
    assert fields["project"] == {"key": "OPS"} and fields["priority"] == {"name": "Highest"}
    assert {"service-checkout", "team-payments", "env-production"} <= set(fields["labels"])
    link = fields["description"]["content"][0]["content"][1]
    assert link["marks"][0] == {"type": "link", "attrs": {"href": "https://r.example/x"}}


def test_jira_open_links_an_existing_issue() -> None:
    tickets, rec = jira({("POST", "/rest/api/3/search/jql"): {"issues": [{"key": "OPS-3"}]}})
    assert tickets.open_ticket(incident=INCIDENT, body="x") == "OPS-3" and len(rec.calls) == 1


def test_jira_close_comments_and_transitions_to_done() -> None:
    transitions = {"transitions": [{"id": "11", "to": {"statusCategory": {"key": "indeterminate"}}},
                                   {"id": "31", "to": {"statusCategory": {"key": "done"}}}]}
    tickets, rec = jira({("GET", "/rest/api/3/issue/OPS-7/transitions"): transitions})
    closed = Incident(**{**INCIDENT.__dict__, "state": State.CLOSED})
    tickets.update_ticket(ticket="OPS-7", incident=closed, comment="INC-12: closed")
    paths = [(m, p) for m, p, _ in rec.calls]
    assert paths == [("PUT", "/rest/api/3/issue/OPS-7"), ("POST", "/rest/api/3/issue/OPS-7/comment"),
                     ("GET", "/rest/api/3/issue/OPS-7/transitions"),
                     ("POST", "/rest/api/3/issue/OPS-7/transitions")]
    assert rec.calls[-1][2] == {"transition": {"id": "31"}}
    assert rec.calls[1][2] == {"body": adf("INC-12: closed")}


def test_jira_errors_say_whether_to_retry() -> None:
    tickets, _ = jira({("POST", "/rest/api/3/search/jql"): 503})
    with pytest.raises(ExternalServiceError) as error:
        tickets.open_ticket(incident=INCIDENT, body="x")
    assert error.value.retryable
    tickets, _ = jira({("POST", "/rest/api/3/search/jql"): 400})
    with pytest.raises(ExternalServiceError) as error:
        tickets.open_ticket(incident=INCIDENT, body="x")
    assert not error.value.retryable

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    down = JiraTickets(url="https://x", user="u", api_token="t", project="OPS", retry=FAST,
                       transport=httpx.MockTransport(refuse))
    with pytest.raises(ExternalServiceError) as error:
        down.open_ticket(incident=INCIDENT, body="x")
    assert error.value.retryable and isinstance(error.value.__cause__, httpx.ConnectError)


def _jira_event(account: str) -> bytes:
    return json.dumps({
        "webhookEvent": "jira:issue_updated", "user": {"accountId": account},
        "issue": {"key": "OPS-7", "fields": {"status": {"statusCategory": {"key": "done"}}}},
        "changelog": {"items": [{"field": "status", "toString": "Done"},
                                {"field": "priority", "toString": "High"}]},
    }).encode()


def test_jira_webhook_signature_and_own_changes() -> None:
    tickets, rec = jira({("GET", "/rest/api/3/myself"): {"accountId": "bot-1"}})
    body = _jira_event("person-1")
    good = {"x-hub-signature": "sha256=" + hmac.new(b"jsecret", body, hashlib.sha256).hexdigest(),
            "x-atlassian-webhook-identifier": "w-1"}
    change = tickets.read_webhook(headers=good, body=body)
    assert change is not None
    assert (change.ticket, change.status, change.priority, change.by_bot, change.delivery_id) == (
        "OPS-7", "done", "P2", False, "w-1")
    with pytest.raises(SignatureError):
        tickets.read_webhook(headers={**good, "x-hub-signature": "sha256=bad"}, body=body)
    own = _jira_event("bot-1")
    signed = {"x-hub-signature": "sha256=" + hmac.new(b"jsecret", own, hashlib.sha256).hexdigest()}
    own_change = tickets.read_webhook(headers=signed, body=own)
    assert own_change is not None and own_change.by_bot


def github(answers: dict[tuple[str, str], object], api: str = "https://api.github.com") -> tuple[GitHubIssues, Recorder]:
    recorder = Recorder(answers)
    return GitHubIssues(token="ghp", repo="acme/ops", api_url=api, webhook_secret="gsecret",
                        transport=httpx.MockTransport(recorder)), recorder


def test_github_open_update_close_on_enterprise_url() -> None:
    answers: dict[tuple[str, str], object] = {
        ("GET", "/api/v3/repos/acme/ops/issues"): [],
        ("POST", "/api/v3/repos/acme/ops/issues"): {"number": 42},
        ("GET", "/api/v3/repos/acme/ops/issues/42"): {"labels": [{"name": "priority:P1"}, {"name": "service:checkout"}]},
    }
    tickets, rec = github(answers, api="https://ghe.acme.example/api/v3")
    assert tickets.open_ticket(incident=INCIDENT, body="body") == "acme/ops#42"
    created = rec.calls[1][2]
    assert isinstance(created, dict)
    assert "priority:P1" in created["labels"] and created["title"].startswith("[P1] INC-12")
    closed = Incident(**{**INCIDENT.__dict__, "state": State.CLOSED, "priority": "P2"})
    tickets.update_ticket(ticket="acme/ops#42", incident=closed, comment="INC-12: closed")
    assert rec.calls[-2][:2] == ("POST", "/api/v3/repos/acme/ops/issues/42/comments")
    assert rec.calls[-1] == ("PATCH", "/api/v3/repos/acme/ops/issues/42", {
        "labels": ["service:checkout", "priority:P2"], "state": "closed", "state_reason": "completed"})


def test_github_webhook_signature_delivery_and_own_changes() -> None:
    tickets, _ = github({("GET", "/user"): {"login": "firebell-bot"}})
    body = json.dumps({"action": "labeled", "label": {"name": "priority:P3"}, "issue": {"number": 42},
                       "repository": {"full_name": "acme/ops"}, "sender": {"login": "firebell-bot"}}).encode()
    headers = {"x-github-event": "issues", "x-github-delivery": "g-1",
               "x-hub-signature-256": "sha256=" + hmac.new(b"gsecret", body, hashlib.sha256).hexdigest()}
    change = tickets.read_webhook(headers=headers, body=body)
    assert change is not None and change.by_bot and change.priority == "P3" and change.ticket == "acme/ops#42"
    with pytest.raises(SignatureError):
        tickets.read_webhook(headers={**headers, "x-hub-signature-256": ""}, body=body)
