"""The ticket port over GitHub Issues' REST API (a thin httpx client; `GITHUB_API_URL` serves
GitHub Enterprise too).

Issues carry the labels `priority:P1`, `service:<id>`, `team:<id>`, `env:<name>` and
`firebell-inc-<id>` (to find the issue again when an open is retried). GitHub's webhooks,
signed with `X-Hub-Signature-256`, come back as `TicketChange`s.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx

from adapters.http import RetryPolicy, request_json, retrying, signature_matches
from workflows.model import Incident, State
from workflows.ports import ExternalServiceError, SignatureError, TicketChange

_API_VERSION = "2022-11-28"


def _labels(incident: Incident) -> list[str]:
    return [f"priority:{incident.priority}", f"service:{incident.service}", f"team:{incident.team}",
            f"env:{incident.environment}", f"firebell-{incident.ref.lower()}"]


class GitHubIssues:
    """`TicketPort` and `TicketWebhooks` for GitHub Issues; tickets are `owner/repo#123`."""

    system = "github"

    def __init__(
        self, *, token: str, repo: str, api_url: str = "https://api.github.com",
        webhook_secret: str | None = None, transport: httpx.BaseTransport | None = None,
        timeout: float = 15.0, retry: RetryPolicy | None = None,
    ) -> None:
        self.repo = repo
        self.retry = retry or RetryPolicy()
        self.webhook_secret = webhook_secret
        self._login: str | None = None
        self._http = httpx.Client(
            base_url=api_url.rstrip("/"), timeout=timeout, transport=transport,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json",
                     "X-GitHub-Api-Version": _API_VERSION},
        )

    # TicketPort -------------------------------------------------------------------
    def open_ticket(self, *, incident: Incident, body: str) -> str:
        # Each try looks for the issue first: a create whose answer was lost (a timeout, a 502)
        # may have made it, and a second create would make a duplicate.
        return retrying(self.retry, lambda: self._open(incident, body),
                        what=f"GitHub open ticket of {incident.ref}")

    def _open(self, incident: Incident, body: str) -> str:
        label = f"firebell-{incident.ref.lower()}"
        found = self._call("GET", f"/repos/{self.repo}/issues",
                           params={"labels": label, "state": "all", "per_page": 1}, retry=False)
        if found:
            return f"{self.repo}#{found[0]['number']}"
        created = self._call("POST", f"/repos/{self.repo}/issues", json={
            "title": f"[{incident.priority}] {incident.ref} {incident.title}"[:250],
            "body": body, "labels": _labels(incident),
        }, retry=False)
        return f"{self.repo}#{created['number']}"

    def update_ticket(self, *, ticket: str, incident: Incident, comment: str) -> None:
        number = self._number(ticket)
        path = f"/repos/{self.repo}/issues/{number}"
        issue = self._call("GET", path)
        keep = [label["name"] for label in issue.get("labels", [])
                if not str(label.get("name", "")).startswith("priority:")]
        change: dict[str, Any] = {"labels": [*keep, f"priority:{incident.priority}"]}
        if incident.state == State.CLOSED:
            change.update(state="closed", state_reason="completed")
        self._call("POST", f"{path}/comments", json={"body": comment})
        self._call("PATCH", path, json=change)

    def login(self) -> str:
        """Firebell's own GitHub login, to ignore the webhooks its own changes cause."""
        if self._login is None:
            self._login = str(self._call("GET", "/user")["login"])
        return self._login

    def _number(self, ticket: str) -> int:
        repo, _, number = ticket.rpartition("#")
        if repo != self.repo or not number.isdigit():
            raise ExternalServiceError(f"{ticket} is not an issue of {self.repo}", retryable=False)
        return int(number)

    # TicketWebhooks -----------------------------------------------------------------
    def read_webhook(self, *, headers: dict[str, str], body: bytes) -> TicketChange | None:
        if not self.webhook_secret:
            raise SignatureError("GitHub webhooks are off: set GITHUB_WEBHOOK_SECRET")
        given = headers.get("x-hub-signature-256", "")
        if not signature_matches(secret=self.webhook_secret, body=body, given=given):
            raise SignatureError("the X-Hub-Signature-256 of the GitHub webhook does not match")
        if headers.get("x-github-event") != "issues":
            return None
        event = json.loads(body)
        issue = event.get("issue") if isinstance(event, dict) else None
        if not isinstance(issue, dict):
            return None
        repo = (event.get("repository") or {}).get("full_name", self.repo)
        sender = event.get("sender") or {}
        action = event.get("action")
        status = {"closed": "done", "reopened": "open"}.get(str(action))
        priority = None
        label = str((event.get("label") or {}).get("name", ""))
        if action == "labeled" and label.startswith("priority:"):
            priority = label.removeprefix("priority:")
        delivery = headers.get("x-github-delivery") or hashlib.sha256(body).hexdigest()
        login = sender.get("login")
        return TicketChange(
            system=self.system, delivery_id=delivery, ticket=f"{repo}#{issue.get('number')}",
            actor=login, by_bot=login is not None and login == self.login(),
            status=status, priority=priority,
        )

    # http ----------------------------------------------------------------------------
    def _call(self, method: str, path: str, *, json: Any = None,
              params: dict[str, Any] | None = None, retry: bool = True) -> Any:
        """A request, retried in place when it fails for a passing reason (`retry`)."""
        return request_json(self._http, method, path, service="GitHub", json=json, params=params,
                            rate_limited=_rate_limited, retry=self.retry if retry else None)


def _rate_limited(response: httpx.Response) -> bool:
    """GitHub answers 403, not 429, when a rate limit is used up: the primary one says so in
    x-ratelimit-remaining, a secondary one with a Retry-After."""
    return response.status_code == 403 and (
        response.headers.get("x-ratelimit-remaining") == "0" or "retry-after" in response.headers
    )
