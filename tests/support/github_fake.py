"""A fake of GitHub's Issues REST API on loopback, speaking its wire format, plus GitHub's side
of the issue webhooks (signed with `X-Hub-Signature-256` the way GitHub signs them).

Paths: `GET /user`, `GET /repos/{owner}/{repo}/issues?labels=&state=`, `POST .../issues`,
`GET|PATCH .../issues/{n}`, `POST .../issues/{n}/comments`. Bearer auth.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from typing import Any
from urllib.parse import urlsplit

import httpx

from tests.support.loopback import JsonHandler, LoopbackFake

TOKEN = "ghp_firebell_test_token"
REPO = "acme/incidents"
BOT_LOGIN = "firebell-bot"
WEBHOOK_SECRET = "firebell-test-github-secret"


class FakeGitHub(LoopbackFake):
    def __init__(self) -> None:
        self.issues: dict[int, dict[str, Any]] = {}
        self.comments: list[tuple[int, str]] = []
        super().__init__()

    @property
    def api_url(self) -> str:
        return self.url

    def close_issue(self, number: int, *, firebell_url: str, by: str = "octocat") -> httpx.Response:
        """A person closes the issue on GitHub: GitHub posts the signed `issues` webhook."""
        with self.lock:
            issue = self.issues[number]
            issue["state"] = "closed"
        body = json.dumps({
            "action": "closed", "issue": issue,
            "repository": {"full_name": REPO, "name": REPO.split("/")[1]},
            "sender": {"login": by, "type": "User"},
        }).encode()
        digest = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
        return httpx.post(f"{firebell_url}/webhooks/github", content=body, timeout=10, headers={
            "Content-Type": "application/json", "X-GitHub-Event": "issues",
            "X-GitHub-Delivery": str(uuid.uuid4()), "X-Hub-Signature-256": f"sha256={digest}",
        })

    def _handler(self) -> type[JsonHandler]:
        fake = self

        class Handler(JsonHandler):
            def _route(self, method: str) -> None:
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    self.send_json(401, {"message": "Bad credentials"})
                    return
                url = urlsplit(self.path)
                parts = url.path.strip("/").split("/")
                if url.path == "/user":
                    self.send_json(200, {"login": BOT_LOGIN})
                    return
                if parts[:3] != ["repos", *REPO.split("/")] or len(parts) < 4 or parts[3] != "issues":
                    self.send_json(404, {"message": "Not Found"})
                    return
                with fake.lock:
                    if len(parts) == 4 and method == "GET":
                        labels = self.query().get("labels", [""])[0]
                        found = [i for i in fake.issues.values()
                                 if not labels or labels in {lb["name"] for lb in i["labels"]}]
                        self.send_json(200, found)
                    elif len(parts) == 4 and method == "POST":
                        body = self.read_json({})
                        number = len(fake.issues) + 1
                        fake.issues[number] = {
                            "number": number, "title": body["title"], "body": body.get("body"),
                            "state": "open", "labels": [{"name": n} for n in body.get("labels", [])],
                        }
                        self.send_json(201, fake.issues[number])
                    elif len(parts) == 5 and method in ("GET", "PATCH"):
                        issue = fake.issues.get(int(parts[4]))
                        if issue is None:
                            self.send_json(404, {"message": "Not Found"})
                            return
                        if method == "PATCH":
                            body = self.read_json({})
                            if "labels" in body:
                                issue["labels"] = [{"name": n} for n in body["labels"]]
                            if "state" in body:
                                issue["state"] = body["state"]
                        self.send_json(200, issue)
                    elif len(parts) == 6 and parts[5] == "comments" and method == "POST":
                        fake.comments.append((int(parts[4]), self.read_json({}).get("body", "")))
                        self.send_json(201, {"id": len(fake.comments)})
                    else:
                        self.send_json(404, {"message": "Not Found"})

            def do_GET(self) -> None:
                self._route("GET")

            def do_POST(self) -> None:
                self._route("POST")

            def do_PATCH(self) -> None:
                self._route("PATCH")

        return Handler
