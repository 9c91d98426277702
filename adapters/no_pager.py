"""The pager of a channel nothing can deliver: `serve` without Slack has no way to reach a person
by chat. Each page through it fails, with the reason, instead of being printed and marked sent:
a page nobody received must look like one (failed on the incident's timeline, and failed over
to the person's next channel when there is one)."""

from __future__ import annotations

from workflows.model import Incident, Page
from workflows.ports import ExternalServiceError, Message


class NoPager:
    """Refuses every page of its channels with `reason` (not retryable: nothing will change)."""

    def __init__(self, *, channels: frozenset[str], reason: str) -> None:
        self.channels = channels
        self.reason = reason

    def send_page(self, *, page: Page, incident: Incident, message: Message) -> str:
        raise ExternalServiceError(f"not delivered: {self.reason}", retryable=False)
