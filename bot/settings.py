"""Every setting of DESIGN.md, read once by `app.py` (the composition root) and handed down.

Each field is one environment variable (its name in capitals, e.g. `slack_bot_token` is
`SLACK_BOT_TOKEN`), also read from a `.env` file in the working directory; the environment wins.
Its `description` is what `firebell serve --help` prints, so every field has one.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from workflows.errors import FirebellError


class Settings(BaseSettings):
    """Every setting of DESIGN.md, from the environment or a `.env` file."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    firebell_config: str = Field("firebell.yaml", description=(
        "the catalog (YAML): people, teams, services, schedules, escalation policies, priorities"))
    database_url: str = Field("sqlite:///firebell.db", description=(
        "SQLAlchemy URL; SQLite embedded, PostgreSQL for production and several replicas"))
    host: str = Field("127.0.0.1", description="HTTP listen address")
    port: int = Field(3000, ge=0, le=65535, description="HTTP listen port")
    slack_bot_token: str | None = Field(None, description=(
        "Slack bot token (xoxb-...); with SLACK_SIGNING_SECRET or SLACK_APP_TOKEN turns Slack on"))
    slack_signing_secret: str | None = Field(None, description=(
        "Slack signing secret: checks POST /slack/events (HTTP mode)"))
    slack_app_token: str | None = Field(None, description=(
        "Slack app token (xapp-...): when set, Socket Mode is used instead of HTTP"))
    slack_api_url: str = Field("https://slack.com/api/", description=(
        "base URL of Slack's Web API (tests point it at a local server)"))
    teams_app_id: str | None = Field(None, description=(
        "the Azure Bot's Microsoft App ID; with TEAMS_APP_PASSWORD and TEAMS_TENANT_ID turns "
        "Teams on"))
    teams_app_password: str | None = Field(None, description="the Azure Bot's client secret")
    teams_tenant_id: str | None = Field(None, description="the Entra tenant of the Azure Bot")
    teams_team_id: str | None = Field(None, description=(
        "the Teams team (Graph group id) incident channels are created in"))
    teams_login_url: str = Field("https://login.microsoftonline.com", description=(
        "base of the Entra token endpoint ({TEAMS_LOGIN_URL}/{TEAMS_TENANT_ID}/oauth2/v2.0/token)"))
    teams_openid_url: str = Field(
        "https://login.botframework.com/v1/.well-known/openidconfiguration", description=(
            "Bot Framework OpenID metadata whose jwks_uri holds the keys of inbound tokens"))
    teams_graph_url: str = Field("https://graph.microsoft.com/v1.0",
                                 description="Microsoft Graph base URL")
    twilio_account_sid: str | None = Field(None, description=(
        "Twilio account SID; with TWILIO_AUTH_TOKEN and TWILIO_FROM_NUMBER turns SMS and voice "
        "pages on"))
    twilio_auth_token: str | None = Field(None, description=(
        "Twilio auth token (also checks X-Twilio-Signature)"))
    twilio_from_number: str | None = Field(None, description=(
        "the number pages come from (+15550109999)"))
    twilio_api_url: str = Field("https://api.twilio.com",
                                description="base URL of Twilio's REST API")
    twilio_extra_numbers: str | None = Field(None, description=(
        "more numbers pages come from, comma-separated (for the vCard)"))
    telegram_bot_token: str | None = Field(None, description=(
        "the Telegram bot's token from @BotFather; with TELEGRAM_WEBHOOK_SECRET turns telegram "
        "pages on"))
    telegram_webhook_secret: str | None = Field(None, description=(
        "the secret_token given to setWebhook: POST /telegram/webhook is refused unless "
        "X-Telegram-Bot-Api-Secret-Token equals it"))
    telegram_api_url: str = Field("https://api.telegram.org", description=(
        "base URL of the Telegram Bot API (requests go to {url}/bot{token}/{method})"))
    jira_url: str | None = Field(None, description=(
        "Jira base URL; with JIRA_USER, JIRA_API_TOKEN and JIRA_PROJECT turns Jira tickets on"))
    jira_user: str | None = Field(None, description="the Jira account tickets are made by")
    jira_api_token: str | None = Field(None, description="that account's API token")
    jira_project: str | None = Field(None, description="the Jira project key tickets go to")
    github_token: str | None = Field(None, description=(
        "GitHub token; with GITHUB_REPO turns GitHub Issues tickets on (when Jira is off)"))
    github_repo: str | None = Field(None, description="owner/name of the repository for issues")
    github_api_url: str = Field("https://api.github.com", description=(
        "GitHub's REST API base (also GitHub Enterprise)"))
    firebell_webhook_token: str | None = Field(None, description=(
        "bearer token alert webhooks must present; without it (and catalog integrations) the "
        "alert webhooks are off"))
    firebell_api_token: str | None = Field(None, description=(
        "bearer token of the JSON API (/api/v1/...); without it the API is off"))
    jira_webhook_secret: str | None = Field(None, description=(
        "signs Jira admin webhooks (POST /webhooks/jira)"))
    github_webhook_secret: str | None = Field(None, description=(
        "signs GitHub webhooks (POST /webhooks/github)"))
    public_url: str | None = Field(None, description=(
        "the bot's own public base URL (Twilio callbacks, calendar links)"))
    # A hosted Atlassian Statuspage kept in step with public updates (adapters/statuspage.py);
    # the page id may come from the catalog's status_page.statuspage.page_id instead.
    statuspage_api_key: str | None = Field(None, description=(
        "Atlassian Statuspage API key; with a page id keeps that page in step with public "
        "updates"))
    statuspage_page_id: str | None = Field(None, description=(
        "the Statuspage page (or the catalog's status_page.statuspage.page_id)"))
    statuspage_api_url: str = Field("https://api.statuspage.io/v1",
                                    description="Statuspage's REST API base")
    # Email (adapters/smtp.py): SMTP_URL (smtp://user:pass@host:587?starttls=true, smtps://...
    # for implicit TLS), or host, port, user, password and STARTTLS one by one; SMTP_FROM sends.
    smtp_url: str | None = Field(None, description=(
        "email: smtp://user:pass@host:587?starttls=true or smtps://user:pass@host:465"))
    smtp_host: str | None = Field(None, description="email server, instead of SMTP_URL")
    smtp_port: int | None = Field(None, ge=1, le=65535, description=(
        "email server port (default: 465 for smtps, 587 with STARTTLS, else 25)"))
    smtp_user: str | None = Field(None, description="email login")
    smtp_password: str | None = Field(None, description="email password")
    smtp_starttls: bool = Field(False, description="use STARTTLS with SMTP_HOST")
    smtp_from: str | None = Field(None, description=(
        "the sender address (default: the user if it is an address, else firebell@<host>)"))
    firebell_poll_seconds: float = Field(15.0, gt=0, description=(
        "how often the scheduler also looks for due deadlines and housekeeping"))
    firebell_workers: int = Field(1, ge=1, description=(
        "server processes of `serve` (replicas on one host); more than 1 wants PostgreSQL"))
    # How long a page's delivery is held before another attempt may settle it with the provider;
    # must outlive Twilio's whole retry budget (~58 s).
    firebell_page_lease_seconds: float = Field(150.0, gt=0, description=(
        "how long a page's delivery is held before another attempt may settle it; keep it above "
        "Twilio's retry budget (~58 s)"))
    firebell_calendar_secret: str | None = Field(None, description=(
        "signs calendar feed URLs (/calendars/...)"))
    # `push` pages (adapters/push_pager.py): ntfy for people with an ntfy_topic (NTFY_URL has a
    # default, so ntfy is always on), Pushover for people with a pushover_user.
    ntfy_url: str = Field("https://ntfy.sh", description=(
        "the ntfy server `push` pages are published to (POST {url}/{topic}); self-hosted or ntfy.sh"))
    ntfy_token: str | None = Field(None, description=(
        "an ntfy access token (sent as Authorization: Bearer), for a server that needs one"))
    pushover_app_token: str | None = Field(None, description=(
        "a Pushover application's API token: turns Pushover on for people with a pushover_user"))
    pushover_api_url: str = Field("https://api.pushover.net", description=(
        "base URL of Pushover's API (tests point it at a local server)"))
    firebell_callback_secret: str | None = Field(None, description=(
        "signs the Acknowledge URLs of push pages (POST /push/ack/...); with PUBLIC_URL puts an "
        "Acknowledge button on ntfy pages and a callback on Pushover emergency pages"))
    # The web view (bot/web/): who may sign in, and how. Nobody gets in anonymously; without a
    # session secret and one of the three ways in, the web view is off.
    firebell_session_secret: str | None = Field(None, description=(
        "signs the web view's session cookies (a long random string, the same on every replica); "
        "with a sign-in way below turns the web view on"))
    firebell_auth_header: str | None = Field(None, description=(
        "web sign-in by a trusted reverse proxy: the request header naming the person (email or "
        "catalog id), e.g. X-Forwarded-Email; the proxy must strip it from clients' requests"))
    slack_client_id: str | None = Field(None, description=(
        "\"Sign in with Slack\" (OpenID Connect) for the web view: the Slack app's client id"))
    slack_client_secret: str | None = Field(None, description=(
        "the Slack app's client secret, for \"Sign in with Slack\""))
    slack_oidc_url: str = Field("https://slack.com", description=(
        "base of Slack's OpenID Connect provider, where its discovery document is (tests point "
        "it at a local server)"))
    entra_client_id: str | None = Field(None, description=(
        "Microsoft Entra sign-in for the web view: the app registration's client id"))
    entra_client_secret: str | None = Field(None, description=(
        "the Entra app registration's client secret"))
    entra_tenant_id: str | None = Field(None, description=(
        "the Entra tenant people sign in from (default: TEAMS_TENANT_ID)"))
    entra_login_url: str = Field("https://login.microsoftonline.com", description=(
        "base of Entra sign-in: the discovery document is under {ENTRA_LOGIN_URL}/{tenant}/v2.0"))
    # `firebell import ...` (bot/import_command.py): read-only access to the tool moved from.
    pagerduty_api_token: str | None = Field(None, description=(
        "`firebell import pagerduty`: a read-only PagerDuty REST API key"))
    pagerduty_api_url: str = Field("https://api.pagerduty.com", description=(
        "PagerDuty's REST API base (tests point it at a local server; EU accounts: "
        "https://api.eu.pagerduty.com)"))
    grafana_oncall_api_token: str | None = Field(None, description=(
        "`firebell import grafana-oncall`: a Grafana OnCall API token"))
    grafana_oncall_api_url: str | None = Field(None, description=(
        "the Grafana OnCall base URL (its API is under {url}/api/v1/), e.g. "
        "http://localhost:8080 for the open-source engine"))
    # The console's own database (URL or SQLite file); never DATABASE_URL, which is serve's.
    firebell_console_database: str | None = Field(None, description=(
        "the database of `firebell console` (URL or SQLite file; default firebell-console.db), "
        "never DATABASE_URL"))
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        "INFO", description="how much `serve` logs: DEBUG, INFO (a line per page, escalation, "
        "ack, resolve, signal and request), WARNING, ERROR")
    log_format: Literal["text", "json"] = Field("text", description=(
        "text (one line per record) or json (one JSON object per line, an event's fields as keys)"))

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
    def telegram_enabled(self) -> bool:
        return bool(self.telegram_bot_token and self.telegram_webhook_secret)

    @property
    def smtp_enabled(self) -> bool:
        return bool(self.smtp_url or self.smtp_host)

    @property
    def teams_enabled(self) -> bool:
        return bool(self.teams_app_id and self.teams_app_password and self.teams_tenant_id)

    @property
    def slack_enabled(self) -> bool:
        return bool(self.slack_bot_token and (self.slack_signing_secret or self.slack_app_token))


class SettingsError(FirebellError):
    """A setting's value cannot be used; the message names each setting and where it came from."""


def load_settings(*, environment: Collection[str] = (), **values: Any) -> Settings:
    """The settings, or SettingsError naming every bad value in one line (`PORT: 'abc' is not a
    number (from the environment)`) instead of pydantic's report. `environment`: the names
    set in the process's environment (app.py hands them over; only app.py reads it), to say
    where a bad value came from."""
    given = {name.upper() for name in environment}
    try:
        return Settings(**values)
    except ValidationError as error:
        raise SettingsError("; ".join(_problem(e, given) for e in error.errors())) from None


_SAYS = {
    "int_parsing": "is not a number",
    "float_parsing": "is not a number",
    "int_from_float": "is not a whole number",
    "bool_parsing": "is not true or false (write true/false, yes/no or 1/0)",
}


def _problem(error: Any, environment: set[str]) -> str:
    name = str(error["loc"][0]).upper() if error.get("loc") else "a setting"
    given = error.get("input")
    says = _SAYS.get(error["type"])
    if says is None:  # "Input should be greater than or equal to 1" -> "should be ..."
        message = str(error["msg"]).removeprefix("Input ")
        says = message[:1].lower() + message[1:]
    where = "the environment" if name in environment else ".env"
    value = f"{str(given)[:60]!r} " if isinstance(given, str | int | float) else ""
    return f"{name}: {value}{says} (from {where})"
