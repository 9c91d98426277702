"""Every setting of DESIGN.md, read once by `app.py` (the composition root) and handed down."""

from __future__ import annotations

from typing import Literal

from pydantic import ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting of DESIGN.md, from the environment or a `.env` file."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    firebell_config: str = "firebell.yaml"
    database_url: str = "sqlite:///firebell.db"
    host: str = "127.0.0.1"
    port: int = 3000
    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_app_token: str | None = None
    slack_api_url: str = "https://slack.com/api/"
    teams_app_id: str | None = None
    teams_app_password: str | None = None
    teams_tenant_id: str | None = None
    teams_team_id: str | None = None  # the team (Graph group id) incident channels are made in
    teams_login_url: str = "https://login.microsoftonline.com"
    teams_openid_url: str = "https://login.botframework.com/v1/.well-known/openidconfiguration"
    teams_graph_url: str = "https://graph.microsoft.com/v1.0"
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_from_number: str | None = None
    twilio_api_url: str = "https://api.twilio.com"
    twilio_extra_numbers: str | None = None  # more numbers pages come from, comma-separated (vCard)
    jira_url: str | None = None
    jira_user: str | None = None
    jira_api_token: str | None = None
    jira_project: str | None = None
    github_token: str | None = None
    github_repo: str | None = None
    github_api_url: str = "https://api.github.com"
    firebell_webhook_token: str | None = None
    firebell_api_token: str | None = None
    jira_webhook_secret: str | None = None  # signs Jira admin webhooks (POST /webhooks/jira)
    github_webhook_secret: str | None = None  # signs GitHub webhooks (POST /webhooks/github)
    public_url: str | None = None
    # A hosted Atlassian Statuspage kept in step with public updates (adapters/statuspage.py);
    # the page id may come from the catalog's status_page.statuspage.page_id instead.
    statuspage_api_key: str | None = None
    statuspage_page_id: str | None = None
    statuspage_api_url: str = "https://api.statuspage.io/v1"
    # Email (adapters/smtp.py): SMTP_URL (smtp://user:pass@host:587?starttls=true, smtps://...
    # for implicit TLS), or host, port, user, password and STARTTLS one by one; SMTP_FROM sends.
    smtp_url: str | None = None
    smtp_host: str | None = None
    smtp_port: int | None = None  # default: 465 for smtps, 587 with STARTTLS, else 25
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_from: str | None = None
    firebell_poll_seconds: float = 15.0
    firebell_workers: int = 1  # server processes (replicas on one host); >1 wants PostgreSQL
    # How long a page's delivery is held before another attempt may settle it with the provider;
    # must outlive Twilio's whole retry budget (~58 s).
    firebell_page_lease_seconds: float = 150.0
    firebell_calendar_secret: str | None = None  # signs calendar feed URLs (bot/calendars.py)
    # The console's own database (URL or SQLite file); never DATABASE_URL, which is serve's.
    firebell_console_database: str | None = None
    # How much `serve` logs (INFO: a line per page, escalation, ack, resolve, signal, request)
    # and how: text, one line per record, or json, one JSON object per line.
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["text", "json"] = "text"

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _any_case(cls, value: object, info: ValidationInfo) -> object:
        """LOG_LEVEL=info and LOG_FORMAT=JSON mean what they say."""
        if not isinstance(value, str):
            return value
        return value.strip().upper() if info.field_name == "log_level" else value.strip().lower()

    @property
    def twilio_enabled(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token and self.twilio_from_number)

    @property
    def smtp_enabled(self) -> bool:
        return bool(self.smtp_url or self.smtp_host)

    @property
    def teams_enabled(self) -> bool:
        return bool(self.teams_app_id and self.teams_app_password and self.teams_tenant_id)

    @property
    def slack_enabled(self) -> bool:
        return bool(self.slack_bot_token and (self.slack_signing_secret or self.slack_app_token))
