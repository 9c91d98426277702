"""Slack front-end: Bolt listeners (`app`), the chat and pager ports over the Web API (`chat`),
and Block Kit rendering (`blocks`)."""
