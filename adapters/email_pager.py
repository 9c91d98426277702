"""The `email` paging channel: a page sent as an email to the person's catalog address.

An email is a slow, unreliable way to wake someone, so it is one channel among others: a
person without an address, or an address the server refuses, makes the page fail with the
reason, and the paging fails over to the person's next channel at once (workflows/paging).
A reply to the email acknowledges nothing; the email says how to acknowledge.
"""

from __future__ import annotations

from collections.abc import Callable

from workflows.model import Incident, Page
from workflows.ports import ExternalServiceError, Mailer, Message
from workflows.render import render


class EmailPager:
    """Pages by email through a `Mailer`; `email_of` gives a person's address (None: none)."""

    channels = frozenset({"email"})

    def __init__(self, mailer: Mailer, *, email_of: Callable[[str], str | None],
                 channel_url: Callable[[str], str | None]) -> None:
        self.mailer = mailer
        self.email_of = email_of
        self.channel_url = channel_url

    def send_page(self, *, page: Page, incident: Incident, message: Message) -> str:
        address = self.email_of(page.person)
        if not address:
            raise ExternalServiceError(f"{page.person} has no email address in the catalog",
                                       retryable=False)
        # One Message-ID per page: sending it again after a lost answer is the same message.
        message_id = f"firebell-page-{page.id}-inc-{incident.id}"
        self.mailer.send_email(
            to=[address], message_id=message_id,
            subject=render("email_page_subject", incident=incident),
            body=render("email_page", text=message.text, incident=incident,
                        channel_url=self.channel_url(incident.channel) if incident.channel else None),
        )
        return f"email:{message_id}"
