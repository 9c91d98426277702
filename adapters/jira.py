"""The ticket port over Jira Cloud's REST API v3 (a thin httpx client).

Issues are created with an Atlassian Document Format description, found again by the label
`firebell-inc-<id>` through `/rest/api/3/search/jql` (so a retried open links instead of
duplicating), commented on, re-prioritised and moved to a "done" status on closure. Jira's
admin webhooks (signed with `X-Hub-Signature: sha256=<hmac>`) come back as `TicketChange`s.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import httpx

from adapters.http import RetryPolicy, request_json, retrying, signature_matches
from workflows.model import Incident, State
from workflows.ports import ExternalServiceError, SignatureError, TicketChange

DEFAULT_PRIORITIES = {"P1": "Highest", "P2": "High", "P3": "Medium", "P4": "Low"}
_URL = re.compile(r"https?://\S+")


def adf(text: str) -> dict[str, Any]:
    """Plain text as an Atlassian Document Format document: a paragraph per line, URLs linked."""
    paragraphs = []
    for line in text.splitlines():
        if not line.strip():
            continue
        content: list[dict[str, Any]] = []
        last = 0
        for match in _URL.finditer(line):
            if match.start() > last:
                content.append({"type": "text", "text": line[last:match.start()]})
            url = match.group(0)
            content.append({"type": "text", "text": url,
                            "marks": [{"type": "link", "attrs": {"href": url}}]})
            last = match.end()
        if last < len(line):
            content.append({"type": "text", "text": line[last:]})
        paragraphs.append({"type": "paragraph", "content": content})
    return {"type": "doc", "version": 1, "content": paragraphs}


def ticket_label(incident: Incident) -> str:
    return f"firebell-{incident.ref.lower()}"


def _labels(incident: Incident) -> list[str]:
    words = [f"service-{incident.service}", f"team-{incident.team}",
             f"env-{incident.environment}", ticket_label(incident), "firebell"]
    return [re.sub(r"\s+", "-", word) for word in words]  # Jira labels have no spaces


class JiraTickets:
    """`TicketPort` and `TicketWebhooks` for Jira Cloud."""

    system = "jira"

    def __init__(
        self, *, url: str, user: str, api_token: str, project: str,
        webhook_secret: str | None = None, issue_type: str = "Task",
        priorities: dict[str, str] | None = None, transport: httpx.BaseTransport | None = None,
        timeout: float = 15.0, retry: RetryPolicy | None = None,
    ) -> None:
        self.project = project
        self.retry = retry or RetryPolicy()
        self.issue_type = issue_type
        self.priorities = priorities or DEFAULT_PRIORITIES
        self.webhook_secret = webhook_secret
        self._account_id: str | None = None
        self._http = httpx.Client(
            base_url=url.rstrip("/"), auth=(user, api_token), timeout=timeout, transport=transport,
            headers={"Accept": "application/json", "Content-Type": "application/json"},
        )

    # TicketPort -------------------------------------------------------------------
    def open_ticket(self, *, incident: Incident, body: str) -> str:
        # Each try looks for the issue first: a create whose answer was lost (a timeout, a 502)
        # may have made it, and a second create would make a duplicate.
        return retrying(self.retry, lambda: self._open(incident, body),
                        what=f"Jira open ticket of {incident.ref}")

    def _open(self, incident: Incident, body: str) -> str:
        existing = self._find(ticket_label(incident), retry=False)
        if existing:
            return existing
        fields: dict[str, Any] = {
            "project": {"key": self.project},
            "issuetype": {"name": self.issue_type},
            "summary": f"[{incident.priority}] {incident.ref} {incident.title}"[:250],
            "description": adf(body),
            "labels": _labels(incident),
        }
        if incident.priority in self.priorities:
            fields["priority"] = {"name": self.priorities[incident.priority]}
        created = self._call("POST", "/rest/api/3/issue", json={"fields": fields}, retry=False)
        return str(created["key"])

    def update_ticket(self, *, ticket: str, incident: Incident, comment: str) -> None:
        if incident.priority in self.priorities:
            self._call("PUT", f"/rest/api/3/issue/{ticket}",
                       json={"fields": {"priority": {"name": self.priorities[incident.priority]}}})
        self._call("POST", f"/rest/api/3/issue/{ticket}/comment", json={"body": adf(comment)})
        if incident.state == State.CLOSED:
            self._transition(ticket, to_category="done")

    def find(self, label: str) -> str | None:
        """The newest issue of the project with this label (JQL search)."""
        return self._find(label, retry=True)

    def _find(self, label: str, *, retry: bool) -> str | None:
        jql = f'project = "{self.project}" AND labels = "{label}" ORDER BY created DESC'
        found = self._call("POST", "/rest/api/3/search/jql",
                           json={"jql": jql, "fields": ["status"], "maxResults": 1}, retry=retry)
        issues = found.get("issues") or []
        return str(issues[0]["key"]) if issues else None

    def _transition(self, ticket: str, *, to_category: str) -> None:
        options = self._call("GET", f"/rest/api/3/issue/{ticket}/transitions")
        for transition in options.get("transitions", []):
            category = transition.get("to", {}).get("statusCategory", {}).get("key")
            if category == to_category:
                self._call("POST", f"/rest/api/3/issue/{ticket}/transitions",
                           json={"transition": {"id": transition["id"]}})
                return
        raise ExternalServiceError(
            f"Jira offers no transition of {ticket} to a '{to_category}' status", retryable=False
        )

    def account_id(self) -> str:
        """Firebell's own Jira account, to ignore the webhooks its own changes cause."""
        if self._account_id is None:
            self._account_id = str(self._call("GET", "/rest/api/3/myself")["accountId"])
        return self._account_id

    # TicketWebhooks -----------------------------------------------------------------
    def read_webhook(self, *, headers: dict[str, str], body: bytes) -> TicketChange | None:
        if not self.webhook_secret:
            raise SignatureError("Jira webhooks are off: set JIRA_WEBHOOK_SECRET")
        given = headers.get("x-hub-signature", "")
        if not signature_matches(secret=self.webhook_secret, body=body, given=given):
            raise SignatureError("the X-Hub-Signature of the Jira webhook does not match")
        event = json.loads(body)
        issue = event.get("issue") if isinstance(event, dict) else None
        if not isinstance(issue, dict) or not str(event.get("webhookEvent", "")).startswith("jira:issue"):
            return None
        delivery = headers.get("x-atlassian-webhook-identifier") or hashlib.sha256(body).hexdigest()
        actor = (event.get("user") or {}).get("accountId")
        status = priority = None
        for item in (event.get("changelog") or {}).get("items", []):
            if item.get("field") == "status":
                category = (((issue.get("fields") or {}).get("status") or {})
                            .get("statusCategory") or {}).get("key")
                status = "done" if category == "done" else "open"
            elif item.get("field") == "priority":
                names = {name: p for p, name in self.priorities.items()}
                priority = names.get(str(item.get("toString")))
        return TicketChange(
            system=self.system, delivery_id=str(delivery), ticket=str(issue.get("key")),
            actor=actor, by_bot=actor is not None and actor == self.account_id(),
            status=status, priority=priority,
        )

    # http ----------------------------------------------------------------------------
    def _call(self, method: str, path: str, *, json: Any = None, retry: bool = True) -> Any:
        """A request, retried in place when it fails for a passing reason (`retry`)."""
        return request_json(self._http, method, path, service="Jira", json=json,
                            retry=self.retry if retry else None)
