"""A local fake of Jira Cloud and GitHub Issues on loopback (real HTTP), with fault injection.

Only what the ticket adapters call: Jira's JQL search and issue create, GitHub's issue list by
label and issue create. Issues are found by label the way the real services find them. Faults
are queued per (method, path): an error status (with headers such as Retry-After) answered
instead of the request, or a hang: the request is done (the issue made) and its answer held
back longer than the client waits, so the client sees a timeout after the vendor acted.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@dataclass(frozen=True)
class Fault:
    status: int = 503  # answered instead of doing the request
    headers: dict[str, str] = field(default_factory=dict)
    hang: float = 0.0  # > 0: do the request, then answer only after this many seconds


@dataclass
class FakeTracker:
    issues: list[dict[str, Any]] = field(default_factory=list)  # {"key", "number", "labels"}
    faults: dict[tuple[str, str], list[Fault]] = field(default_factory=lambda: defaultdict(list))
    log: list[tuple[str, str, int, float]] = field(default_factory=list)  # method, path, status, t

    def fail(self, method: str, path: str, *faults: Fault) -> None:
        self.faults[(method, path)].extend(faults)

    def calls(self, method: str, path: str) -> list[int]:
        """The statuses answered to (method, path), in order."""
        return [status for m, p, status, _ in self.log if (m, p) == (method, path)]

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/rest/api/3/search/jql", self._jira_search, methods=["POST"]),
            Route("/rest/api/3/issue", self._jira_create, methods=["POST"]),
            Route("/repos/{owner}/{repo}/issues", self._github_issues, methods=["GET", "POST"]),
        ])

    async def _serve(self, request: Request, work: Any) -> Response:
        key = (request.method, request.url.path)
        fault = self.faults[key].pop(0) if self.faults[key] else None
        if fault is not None and not fault.hang:
            self.log.append((*key, fault.status, time.monotonic()))
            return JSONResponse({"message": "injected"}, status_code=fault.status,
                                headers=fault.headers)
        status, body = await work(request)
        self.log.append((*key, status, time.monotonic()))
        if fault is not None:
            await asyncio.sleep(fault.hang)  # the answer is lost: the client has given up
        return JSONResponse(body, status_code=status)

    def _labelled(self, label: str) -> list[dict[str, Any]]:
        return [issue for issue in reversed(self.issues) if label in issue["labels"]]

    def _add(self, labels: list[str]) -> dict[str, Any]:
        number = len(self.issues) + 1
        issue = {"key": f"OPS-{number}", "number": number, "labels": list(labels)}
        self.issues.append(issue)
        return issue

    async def _jira_search(self, request: Request) -> Response:
        async def work(request: Request) -> tuple[int, Any]:
            jql = (await request.json())["jql"]
            match = re.search(r'labels = "([^"]+)"', jql)
            found = self._labelled(match.group(1)) if match else []
            return 200, {"issues": [{"key": issue["key"]} for issue in found[:1]]}
        return await self._serve(request, work)

    async def _jira_create(self, request: Request) -> Response:
        async def work(request: Request) -> tuple[int, Any]:
            issue = self._add((await request.json())["fields"]["labels"])
            return 201, {"id": str(issue["number"]), "key": issue["key"]}
        return await self._serve(request, work)

    async def _github_issues(self, request: Request) -> Response:
        async def work(request: Request) -> tuple[int, Any]:
            if request.method == "GET":
                found = self._labelled(request.query_params["labels"])
                return 200, [{"number": issue["number"]} for issue in found]
            issue = self._add((await request.json())["labels"])
            return 201, {"number": issue["number"]}
        return await self._serve(request, work)
