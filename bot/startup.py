"""What `firebell serve` says when it starts: which integrations are on, which are half set up
(naming the settings that are missing), whether anyone can be paged, and whether the Slack token
works (`auth.test`: a refused token stops the start; an unreachable Slack only warns)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.settings import Settings
from storage.db import is_sqlite
from workflows.catalog.model import Catalog
from workflows.errors import FirebellError

Line = tuple[int, str]  # a logging level and its message

# auth.test errors that mean the token itself is wrong: waiting will not fix them.
BAD_TOKEN = frozenset({"invalid_auth", "not_authed", "account_inactive", "token_revoked",
                       "token_expired"})
SLACK_CHECK_SECONDS = 10.0
_LISTED = 10  # people named in a warning; the rest are counted


class StartupError(FirebellError):
    """`serve` cannot start with these settings (a refused token ...); the message says which."""


@dataclass(frozen=True)
class _Integration:
    name: str
    needs: tuple[tuple[str, ...], ...]  # every entry is needed; any one name of an entry will do
    also: tuple[str, ...] = ()  # its optional settings: set alone, they mean someone meant it on


_SLACK = _Integration("slack", (("slack_bot_token",), ("slack_signing_secret", "slack_app_token")))
_TEAMS = _Integration("teams", (("teams_app_id",), ("teams_app_password",), ("teams_tenant_id",)),
                      also=("teams_team_id",))
_TWILIO = _Integration(
    "twilio", (("twilio_account_sid",), ("twilio_auth_token",), ("twilio_from_number",)),
    also=("twilio_extra_numbers",))
_TELEGRAM = _Integration("telegram", (("telegram_bot_token",), ("telegram_webhook_secret",)))
_SMTP = _Integration("email (SMTP)", (("smtp_url", "smtp_host"),),
                     also=("smtp_port", "smtp_user", "smtp_password", "smtp_from"))
_JIRA = _Integration("jira", (("jira_url",), ("jira_user",), ("jira_api_token",), ("jira_project",)),
                     also=("jira_webhook_secret",))
_GITHUB = _Integration("github issues", (("github_token",), ("github_repo",)),
                       also=("github_webhook_secret",))
_STATUSPAGE = _Integration("statuspage", (("statuspage_api_key",), ("statuspage_page_id",)))


def _env(names: tuple[str, ...]) -> str:
    """`A` or `A (or B)`: one entry of `needs` as the variables a person sets."""
    first, *others = (name.upper() for name in names)
    return first + "".join(f" (or {other})" for other in others)


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _state(settings: Settings, it: _Integration, *, given: frozenset[str] = frozenset()) -> Line | None:
    """None when `it` is on; else its `off` line: INFO when none of its settings is set, WARNING
    naming what is missing when some are (someone meant to turn it on)."""
    def is_set(name: str) -> bool:
        return name in given or bool(getattr(settings, name))

    missing = [_env(entry) for entry in it.needs if not any(is_set(name) for name in entry)]
    if not missing:
        return None
    present = [name.upper() for entry in it.needs for name in entry if is_set(name)]
    present += [name.upper() for name in it.also if is_set(name)]
    if not present:
        return logging.INFO, f"{it.name}: off (set {_and(missing)} to turn it on)"
    verb = "is" if len(missing) == 1 else "are"
    return (logging.WARNING, f"{it.name}: off — {_and(missing)} {verb} missing "
            f"({_and(present)} {'is' if len(present) == 1 else 'are'} set)")


def status_lines(settings: Settings, catalog: Catalog) -> list[Line]:
    """One line per integration: on (and how), off, or half set up with the missing settings."""
    slack_mode = "socket mode" if settings.slack_app_token else "HTTP: POST /slack/events"
    page_id = frozenset({"statuspage_page_id"} if catalog.status_page.statuspage.page_id else ())
    jira_on = _state(settings, _JIRA) is None

    def line(it: _Integration, on: str, given: frozenset[str] = frozenset()) -> Line:
        return _state(settings, it, given=given) or (logging.INFO, f"{it.name}: {on}")

    github = line(_GITHUB, "on")
    if jira_on and github[1] == "github issues: on":
        github = (logging.WARNING, "github issues: off — Jira takes the tickets (JIRA_* is set)")
    return [
        line(_SLACK, f"on ({slack_mode})"),
        line(_TEAMS, "on (POST /api/messages)" + ("" if settings.teams_team_id else
                                                  "; no TEAMS_TEAM_ID: no incident channels")),
        line(_TWILIO, "on (SMS and voice)"),
        line(_TELEGRAM, "on (telegram pages; acknowledgements at POST /telegram/webhook)"),
        line(_SMTP, "on"),
        line(_JIRA, "on"),
        github,
        line(_STATUSPAGE, "on", page_id),
        _on_off("alert webhooks", bool(settings.firebell_webhook_token
                                       or catalog.intake.integrations), "FIREBELL_WEBHOOK_TOKEN"),
        push_line(settings, catalog),
        _on_off("JSON API", bool(settings.firebell_api_token), "FIREBELL_API_TOKEN"),
        _on_off("personal calendar feeds", bool(settings.firebell_calendar_secret),
                "FIREBELL_CALENDAR_SECRET"),
    ]


def push_line(settings: Settings, catalog: Catalog) -> Line:
    """The `push` channel: ntfy is always on (NTFY_URL has a default); Pushover needs its app
    token (a warning when people have a pushover_user without it); the Acknowledge button needs
    PUBLIC_URL and FIREBELL_CALLBACK_SECRET."""
    parts = [f"ntfy at {settings.ntfy_url}"]
    level = logging.INFO
    if settings.pushover_app_token:
        parts.append("Pushover on")
    else:
        parts.append("Pushover off (set PUSHOVER_APP_TOKEN to turn it on)")
        if any(p.pushover_user and not p.ntfy_topic for p in catalog.people):
            level = logging.WARNING
            parts[-1] = ("Pushover off — PUSHOVER_APP_TOKEN is missing (people have a "
                         "pushover_user: their push pages fail over to their next channel)")
    if settings.public_url and settings.firebell_callback_secret:
        parts.append("Acknowledge links on (POST /push/ack/...)")
    else:
        missing = [n for n, v in (("PUBLIC_URL", settings.public_url),
                                  ("FIREBELL_CALLBACK_SECRET", settings.firebell_callback_secret))
                   if not v]
        parts.append(f"no Acknowledge button on pushes (set {_and(missing)})")
    return level, "push: " + "; ".join(parts)


def _on_off(name: str, on: bool, setting: str) -> Line:
    return logging.INFO, f"{name}: on" if on else f"{name}: off (set {setting} to turn it on)"


def _unset(settings: Settings, names: tuple[str, ...]) -> str:
    return ", ".join(name.upper() for name in names if not getattr(settings, name))


def chat_unset(settings: Settings) -> str:
    """The Slack settings (HTTP mode) that are unset: why there is no chat."""
    return _unset(settings, ("slack_bot_token", "slack_signing_secret"))


def delivery_warnings(settings: Settings) -> list[str]:
    """What `serve` says at start-up when a way of reaching people is off, naming the settings
    that are missing; no chat and no pager means nobody can be paged at all."""
    no_chat = f"no chat ({chat_unset(settings)} unset)"
    no_pager = f"no pager ({_unset(settings, tuple(n for (n,) in _TWILIO.needs))} unset)"
    chat = settings.slack_enabled or settings.teams_enabled  # Teams is the chat when Slack is off
    if not chat and not settings.twilio_enabled:
        return [f"NOBODY CAN BE PAGED: {no_chat} and {no_pager}. Pages are recorded as failed, "
                "not sent; channel posts only go to this process's stdout."]
    if not chat:
        return [f"{no_chat}: chat pages are recorded as failed, only SMS and voice reach people; "
                "channel posts only go to this process's stdout."]
    if not settings.twilio_enabled:
        chats = " and ".join(name for name, on in (("Slack", settings.slack_enabled),
                                                   ("Teams", settings.teams_enabled)) if on)
        return [f"{no_pager}: pages go by {chats} chat only, no SMS or voice."]
    return []


def unreachable_people(settings: Settings, catalog: Catalog) -> list[str]:
    """A warning naming the people of the catalog whom no configured channel can page (a person
    with no Slack id when Slack is the only chat and Twilio is off ...); none when every person
    can be reached, or when nothing can page anyone (delivery_warnings says that)."""
    uses_email = any("email" in r.channels for r in catalog.priorities.response.values())
    uses_telegram = (any("telegram" in r.channels for r in catalog.priorities.response.values())
                     or any(r.channel == "telegram" for p in catalog.people for r in p.notify))
    ways = [(name, field) for name, field, on in (
        ("Slack", "slack", settings.slack_enabled), ("Teams", "teams", settings.teams_enabled),
        ("SMS and voice", "phone", settings.twilio_enabled),
        ("email", "email", settings.smtp_enabled and uses_email),
        ("Telegram", "telegram_chat_id", settings.telegram_enabled and uses_telegram),
    ) if on]
    if not ways or not (settings.slack_enabled or settings.teams_enabled
                        or settings.twilio_enabled):
        return []
    lost = [person for person in catalog.people
            if not any(getattr(person, field) for _, field in ways)]
    if not lost:
        return []
    named = ", ".join(person.id for person in lost[:_LISTED])
    more = f" and {len(lost) - _LISTED} more" if len(lost) > _LISTED else ""
    return [f"{len(lost)} of {len(catalog.people)} people in the catalog cannot be paged by "
            f"{' or '.join(name for name, _ in ways)}: {named}{more} (no "
            f"{' or '.join(field for _, field in ways)} in the catalog). Add theirs, or turn "
            "another channel on."]


def workers_lines(settings: Settings, catalog: Catalog, *, workers: int) -> list[Line]:
    """With several server processes: each has its own webhook rate limit, and SQLite makes them
    take turns (a warning: it works on one host, slowly; replicas want PostgreSQL)."""
    if workers <= 1:
        return []
    limit = catalog.intake.rate_limit
    lines: list[Line] = [(logging.INFO, (
        f"{workers} server processes; the alert webhook rate limit (intake.rate_limit: "
        f"{limit.per_second:g}/s, burst {limit.burst}) is kept by each process, so together "
        f"they take up to {workers}x that"))]
    if is_sqlite(settings.database_url):
        lines.append((logging.WARNING, (
            f"FIREBELL_WORKERS={workers} on SQLite: the processes share one database file and "
            "take turns to write (each waits up to 30 s for the lock), so more processes add no "
            "write throughput; replicas want PostgreSQL (DATABASE_URL=postgresql+psycopg://...)")))
    return lines


def check_slack(settings: Settings) -> Line:
    """Slack's `auth.test` with the bot token: "connected to <team> as @<user>"; StartupError
    when Slack refuses the token; a warning when Slack cannot be reached (it may come back)."""
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError, SlackClientError

    client = WebClient(token=settings.slack_bot_token or "", base_url=settings.slack_api_url,
                       timeout=int(SLACK_CHECK_SECONDS))
    try:
        answer = client.auth_test()
    except SlackApiError as error:
        code = str(error.response.get("error", "") if isinstance(error.response.data, dict)
                   else "")
        if code in BAD_TOKEN:
            raise StartupError(
                f"SLACK_BOT_TOKEN was refused by Slack ({code}): copy the Bot User OAuth Token "
                "(xoxb-...) from the app's OAuth & Permissions page") from None
        said = code or f"HTTP {error.response.status_code}"
        return (logging.WARNING, f"slack: auth.test at {settings.slack_api_url} answered {said}; "
                "starting anyway")
    except (SlackClientError, OSError) as error:
        return (logging.WARNING, f"slack: cannot reach {settings.slack_api_url} to check "
                f"SLACK_BOT_TOKEN ({type(error).__name__}: {error}); starting anyway, Slack "
                "calls are retried")
    return (logging.INFO, f"slack: connected to {answer.get('team')} "
            f"({answer.get('url')}) as @{answer.get('user')}")
