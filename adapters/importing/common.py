"""What every importer gives back, and the pieces they share.

An importer reads a source's HTTP API (read-only) and returns an `Imported`: the catalog's
sections as plain data in the order they are written, a comment for every place where the
mapping lost something, and the report (what was imported, what could not be mapped and why,
what to check by hand). `final_shifts` asks the source who is on call over a period, for
`firebell import ... --compare`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from typing import Any

import httpx

from adapters.http import RetryPolicy, request_json
from workflows.catalog.imported import Imported, ImportSource
from workflows.oncall.compare import SourceShift

__all__ = ["IMPORT_RETRY", "Ids", "ImportSource", "Imported", "SourceApi", "SourceShift",
           "one_of_each", "person_id_from_email"]

# A rate limit is waited out (the source says how long, at most a minute a time); an import is
# run by a person at a terminal, so a few minutes in all are acceptable, the outbox's 30 s not.
IMPORT_RETRY = RetryPolicy(attempts=8, backoff=1.0, max_wait=60.0, budget=300.0)
TIMEOUT = httpx.Timeout(30.0, connect=10.0)


class SourceApi:
    """GET requests to a source's JSON API: rate limits (429, Retry-After) waited out, every
    failure a one-line error naming the source, the request and the answer."""

    def __init__(self, *, service: str, base_url: str, headers: dict[str, str],
                 transport: httpx.BaseTransport | None = None) -> None:
        self.service = service
        self._client = httpx.Client(base_url=base_url.rstrip("/") + "/", headers=headers,
                                    timeout=TIMEOUT, transport=transport)

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return request_json(self._client, "GET", path.lstrip("/"), service=self.service,
                            params=params, retry=IMPORT_RETRY)

    def get_url(self, url: str) -> Any:
        """A full URL the source gave (a `next` page link)."""
        return request_json(self._client, "GET", url, service=self.service, retry=IMPORT_RETRY)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> SourceApi:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class Ids:
    """Catalog ids made from the source's names: lower-case words joined by '-', unique within
    one kind ("Payments Primary" -> "payments-primary", then "payments-primary-2")."""

    def __init__(self) -> None:
        self._taken: dict[str, set[str]] = {}

    def make(self, kind: str, name: str, *, fallback: str = "item") -> str:
        text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
        base = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or fallback
        taken = self._taken.setdefault(kind, set())
        candidate, n = base, 1
        while candidate in taken:
            n += 1
            candidate = f"{base}-{n}"
        taken.add(candidate)
        return candidate


def person_id_from_email(email: str | None, name: str, ids: Ids) -> str:
    """A person's id: the local part of their email ("alice" of alice@example.com), else
    their name; unique."""
    local = (email or "").split("@", 1)[0]
    return ids.make("person", local or name, fallback="person")


def one_of_each(items: Iterable[str]) -> Iterator[str]:
    """`items` without repeats, in their first order."""
    seen: set[str] = set()
    for item in items:
        if item not in seen:
            seen.add(item)
            yield item
