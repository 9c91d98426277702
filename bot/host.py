"""What `app.py` hands the front-ends: the settings and the running parts they reach.

A Protocol, so that bot/ depends on the shape of the running Firebell, not on the composition
root that builds it (`app.Firebell` is one).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from bot.settings import Settings
from storage.request_log import SqlRequestLog
from storage.store import SqlStore
from workflows.context import Context


class Running(Protocol):
    @property
    def running(self) -> bool: ...

    # When the scheduler last ran its due work through (None: not yet), for /metrics.
    last_run: datetime | None


class Host(Protocol):
    settings: Settings
    ctx: Context
    store: SqlStore
    requests: SqlRequestLog
    slack: Any  # slack_bolt.App when Slack is configured
    teams: Any  # bot.teams.app.TeamsFrontEnd when Teams is configured

    @property
    def timers(self) -> Running: ...
