"""The one error hierarchy: every error a person can be told about is a `FirebellError`.

Front-ends (`bot/`) show a `FirebellError` to the person as it is; anything else is a defect of
ours, logged with its traceback while the person reads a generic "it is logged" message.
Adapters catch vendor exceptions and raise these `from` the original.
"""

from __future__ import annotations


class FirebellError(Exception):
    """Base of every error the process raises; `bot/` turns it into a message to the person."""


class NotFound(FirebellError):
    """Something a person named (an incident, a person, a schedule ...) does not exist."""


class InvalidRequest(FirebellError, ValueError):
    """A person asked for something malformed or impossible; the message says how to fix it.

    It is also a `ValueError` because the same parsers (durations, hours, ...) check the catalog
    inside pydantic validators, which report a `ValueError` as a problem at its place in the file.
    """


class Conflict(FirebellError):
    """The request is well-formed but clashes with the current state (already resolved, taken)."""


class Unavailable(FirebellError):
    """Something Firebell needs is not there or not answering right now."""


class ExternalServiceError(Unavailable):
    """A remote service (chat, pager, tickets) failed. `retryable` says whether to try again."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class SignatureError(FirebellError):
    """A webhook's signature is missing or does not match its secret (a 401, not a 400)."""
