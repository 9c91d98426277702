"""The command line as an operator meets it: every error is one line `firebell: error: ...` on
stderr with exit status 2 (usage) or 1 (anything else) and no traceback; `--version`;
`serve --help` lists the settings; `serve` names what a half-configured integration lacks, checks
the Slack token with `auth.test` (a refused one stops the start, an unreachable Slack only warns)
and warns when people cannot be paged."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from bot.settings import Settings
from tests.support.cli import run_firebell
from tests.support.paths import DEMO_CATALOG, ROOT
from tests.support.serve import Serve
from tests.support.slack_fake import FakeSlack
from tests.support.slack_helpers import free_port

# Every setting a test does not choose is set to its harmless value here, so that the
# environment this suite runs in (a developer's SLACK_BOT_TOKEN ...) cannot change the outcome.
_SCRUBBED = ("SLACK_", "TWILIO_", "TEAMS_", "JIRA_", "GITHUB_", "SMTP_", "STATUSPAGE_",
             "FIREBELL_", "DATABASE_URL", "PORT", "HOST", "LOG_", "PUBLIC_URL", "PAGERDUTY_",
             "GRAFANA_ONCALL_")
BROKEN = "people:\n  - {id: alice, name: Alice}\nteams: 3\n"


def _env(tmp_path: Path, **values: str) -> dict[str, str]:
    return {"FIREBELL_CONFIG": str(tmp_path / "firebell.yaml"),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'firebell.db'}", "LOG_LEVEL": "INFO",
            "PORT": str(free_port()), **values}


def _firebell(tmp_path: Path, *args: str, timeout: float = 60,
              **env: str) -> subprocess.CompletedProcess[str]:
    """`firebell <args>` in an empty directory, the settings of `env` and no others."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED)}
    command = [str(Path(sys.executable).parent / "firebell"), *args]  # the real entry point
    assert Path(command[0]).exists(), "the `firebell` entry point is installed in the venv"
    return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True,
                          encoding="utf-8", env={**clean, **_env(tmp_path, **env)}, timeout=timeout,
                          check=False)


def _one_error(result: subprocess.CompletedProcess[str], status: int) -> str:
    """The single stderr line of a failed command (its text after `firebell: error: `)."""
    assert result.returncode == status, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("firebell: error: "), result.stderr
    return lines[0].removeprefix("firebell: error: ")


MISSING = "firebell.yaml: cannot read the catalog: No such file or directory"


def test_import_without_its_credentials_names_the_variables_and_writes_nothing(
        tmp_path: Path) -> None:
    error = _one_error(_firebell(tmp_path, "import", "pagerduty"), 1)
    assert error.startswith("import pagerduty: PAGERDUTY_API_TOKEN is not set"), error
    error = _one_error(_firebell(tmp_path, "import", "grafana-oncall",
                                 GRAFANA_ONCALL_API_TOKEN="x"), 1)
    assert error.startswith("import grafana-oncall: GRAFANA_ONCALL_API_URL not set"), error
    assert not (tmp_path / "firebell.yaml").exists()
    # --compare reads the file first: without one, it says so before asking anyone.
    error = _one_error(_firebell(tmp_path, "import", "pagerduty", "--compare"), 1)
    assert error.endswith(MISSING), error
    error = _one_error(_firebell(tmp_path, "import", "pagerduty", "--days", "0"), 2)
    assert error == "import: --days must be at least 1 (got 0)", error


@pytest.mark.parametrize("args", [
    ("serve",), ("simulate", "--service", "checkout"), ("report", "paging"),
    ("postmortem", "INC-12"),
])
def test_a_missing_catalog_is_one_line_and_status_1(tmp_path: Path, args: tuple[str, ...]) -> None:
    assert _one_error(_firebell(tmp_path, *args), 1).endswith(MISSING)


@pytest.mark.parametrize("args", [("serve",), ("simulate", "--service", "checkout")])
def test_a_broken_catalog_names_file_line_and_the_way_to_list_every_problem(
        tmp_path: Path, args: tuple[str, ...]) -> None:
    (tmp_path / "firebell.yaml").write_text(BROKEN)
    said = _one_error(_firebell(tmp_path, *args), 1)
    assert said.startswith(f"{tmp_path / 'firebell.yaml'}:3: teams:"), said


def test_config_check_lists_the_problems_on_stdout_and_says_so_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "firebell.yaml").write_text(BROKEN)
    result = _firebell(tmp_path, "config", "check")
    assert re.fullmatch(r"\d+ problem\(s\) in \S+firebell.yaml \(listed above\)",
                        _one_error(result, 1))
    assert ":3: teams:" in result.stdout


@pytest.mark.parametrize(("args", "said"), [
    ((), "the following arguments are required: command (see `firebell --help`)"),
    (("bogus",), "argument command: invalid choice: 'bogus'"),
    (("demo", "--speed", "fast"), "demo: argument --speed: invalid float value: 'fast' "
                                  "(see `firebell demo --help`)"),
    (("simulate",), "simulate: the following arguments are required: --service"),
    (("postmortem", "yesterday's"), "postmortem: argument incident: not an incident: "
                                    "\"yesterday's\" (write 12, #12 or INC-12)"),
    (("config",), "config: the following arguments are required: config_command"),
    (("serve", "--port", "80"), "unrecognized arguments: --port 80"),
])
def test_usage_errors_are_one_line_and_status_2(tmp_path: Path, args: tuple[str, ...],
                                                said: str) -> None:
    assert said in _one_error(_firebell(tmp_path, *args), 2)


def test_bad_arguments_that_need_the_catalog_are_usage_errors_too(tmp_path: Path) -> None:
    env = {"FIREBELL_CONFIG": str(DEMO_CATALOG)}
    said = _one_error(_firebell(tmp_path, "simulate", "--service", "chekout", **env), 2)
    assert said == "simulate: unknown service 'chekout' (known: checkout)"
    said = _one_error(_firebell(tmp_path, "report", "paging", "--since", "last week", **env), 2)
    assert said.startswith("--since: cannot read")


def test_a_bad_setting_is_named_with_where_it_came_from(tmp_path: Path) -> None:
    said = _one_error(_firebell(tmp_path, "serve", PORT="abc"), 1)
    assert said == "PORT: 'abc' is not a number (from the environment)"
    (tmp_path / ".env").write_text("FIREBELL_WORKERS=0\nSMTP_STARTTLS=maybe\n")
    said = _one_error(_firebell(tmp_path, "report", "paging"), 1)
    assert "FIREBELL_WORKERS: '0' should be greater than or equal to 1 (from .env)" in said
    assert "SMTP_STARTTLS: 'maybe' is not true or false" in said


def test_a_database_that_cannot_be_opened_is_named_without_its_password(tmp_path: Path) -> None:
    env = {"FIREBELL_CONFIG": str(DEMO_CATALOG)}
    said = _one_error(_firebell(
        tmp_path, "report", "paging",
        DATABASE_URL=f"postgresql+psycopg://firebell:s3cret-pw@127.0.0.1:{free_port()}/x", **env,
    ), 1)
    assert said.startswith("database postgresql+psycopg://firebell:***@127.0.0.1:"), said
    assert "s3cret-pw" not in said and "refused" in said.lower()
    said = _one_error(_firebell(tmp_path, "console", "--database",
                                str(tmp_path / "no" / "such" / "dir.db"), **env), 1)
    assert said == f"database sqlite:///{tmp_path}/no/such/dir.db: unable to open database file"


def test_a_missing_teams_setting_is_status_1(tmp_path: Path) -> None:
    said = _one_error(_firebell(tmp_path, "teams", "package"), 1)
    assert said.startswith("set TEAMS_APP_ID")


def test_debug_shows_the_traceback_and_still_ends_with_the_line(tmp_path: Path) -> None:
    for result in (_firebell(tmp_path, "--debug", "report", "paging"),
                   _firebell(tmp_path, "report", "paging", LOG_LEVEL="debug")):
        assert result.returncode == 1
        assert "Traceback" in result.stderr and "CatalogError" in result.stderr
        assert result.stderr.strip().splitlines()[-1].endswith(MISSING)


def test_version(tmp_path: Path) -> None:
    expected = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    result = _firebell(tmp_path, "--version")
    assert (result.returncode, result.stdout.strip()) == (0, f"firebell {expected}")


def test_serve_help_lists_every_setting_and_says_where_they_are_read(tmp_path: Path) -> None:
    result = run_firebell("serve", "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())  # descriptions are wrapped
    assert "read from the environment and from a `.env` file" in text
    for name, field in Settings.model_fields.items():
        assert field.description, f"Settings.{name} has no description for `serve --help`"
        assert f" {name.upper()} " in f" {text} ", name
        assert " ".join(field.description.split()) in text, name
    assert "HTTP listen port (default: 3000)" in text


# ---- a real `serve` ------------------------------------------------------------------------

def _serve_env(tmp_path: Path, **values: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED)}
    return {**clean, **_env(tmp_path, FIREBELL_CONFIG=str(DEMO_CATALOG),
                            FIREBELL_POLL_SECONDS="3600"), **values}


def _started(tmp_path: Path, env: dict[str, str]) -> str:
    """The log of a `serve` that came up healthy and was stopped."""
    serve = Serve(env, tmp_path / "serve.log")
    try:
        serve.start()
    finally:
        serve.stop()
    return serve.tail()


@pytest.mark.slow
def test_serve_names_what_each_half_configured_integration_lacks(tmp_path: Path) -> None:
    log = _started(tmp_path, _serve_env(
        tmp_path, SLACK_BOT_TOKEN="xoxb-1", TWILIO_ACCOUNT_SID="AC0", TEAMS_APP_ID="app",
        TEAMS_TENANT_ID="t", JIRA_URL="https://acme.atlassian.net", JIRA_USER="ops@acme.example",
        GITHUB_REPO="acme/ops", SMTP_USER="ops", STATUSPAGE_API_KEY="k",
        FIREBELL_WORKERS="2"))
    for line in (
        "slack: off — SLACK_SIGNING_SECRET (or SLACK_APP_TOKEN) is missing "
        "(SLACK_BOT_TOKEN is set)",
        "teams: off — TEAMS_APP_PASSWORD is missing (TEAMS_APP_ID and TEAMS_TENANT_ID are set)",
        "twilio: off — TWILIO_AUTH_TOKEN and TWILIO_FROM_NUMBER are missing "
        "(TWILIO_ACCOUNT_SID is set)",
        "jira: off — JIRA_API_TOKEN and JIRA_PROJECT are missing (JIRA_URL and JIRA_USER are set)",
        "github issues: off — GITHUB_TOKEN is missing (GITHUB_REPO is set)",
        "email (SMTP): off — SMTP_URL (or SMTP_HOST) is missing (SMTP_USER is set)",
        "statuspage: off — STATUSPAGE_PAGE_ID is missing (STATUSPAGE_API_KEY is set)",
    ):
        assert f"WARNING firebell: {line}\n" in log, (line, log)
    # Nobody can be paged: said once, loudly, in the main process (not by each worker).
    assert log.count("WARNING firebell: NOBODY CAN BE PAGED") == 1, log
    assert "FIREBELL_WORKERS=2 on SQLite" in log and "replicas want PostgreSQL" in log
    assert "the alert webhook rate limit (intake.rate_limit: 2000/s, burst 4000) is kept by " \
           "each process" in log


@pytest.mark.slow
def test_serve_refuses_a_slack_token_slack_refuses(tmp_path: Path) -> None:
    with FakeSlack() as slack:
        slack.auth_error = "invalid_auth"
        result = _firebell(tmp_path, "serve", FIREBELL_CONFIG=str(DEMO_CATALOG),
                           SLACK_BOT_TOKEN="xoxb-revoked", SLACK_SIGNING_SECRET="s",
                           SLACK_API_URL=slack.api_url)
        assert slack.calls_to("auth.test") == []  # refused calls are not recorded as done
    said = result.stderr.strip().splitlines()[-1]
    assert said == ("firebell: error: SLACK_BOT_TOKEN was refused by Slack (invalid_auth): copy "
                    "the Bot User OAuth Token (xoxb-...) from the app's OAuth & Permissions page")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "firebell.db").exists()  # it stopped before migrating anything


@pytest.mark.slow
def test_serve_logs_the_slack_workspace_and_who_cannot_be_paged(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(DEMO_CATALOG.read_text().replace(
        "people:\n", "people:\n  - {id: zoe, name: Zoe Ziegler, email: zoe@example.com}\n", 1))
    with FakeSlack() as slack:
        log = _started(tmp_path, _serve_env(
            tmp_path, FIREBELL_CONFIG=str(catalog), SLACK_BOT_TOKEN="xoxb-good",
            SLACK_SIGNING_SECRET="s", SLACK_API_URL=slack.api_url))
        assert len(slack.calls_to("auth.test")) == 1
    assert ("INFO firebell: slack: connected to Firebell Test (https://firebell-test.slack.com/) "
            "as @firebell\n") in log, log
    assert "INFO firebell: slack: on (HTTP: POST /slack/events)" in log
    assert ("WARNING firebell: 1 of 4 people in the catalog cannot be paged by Slack: zoe "
            "(no slack in the catalog)") in log, log
    assert "NOBODY CAN BE PAGED" not in log


@pytest.mark.slow
def test_serve_starts_when_slack_cannot_be_reached(tmp_path: Path) -> None:
    down = f"http://127.0.0.1:{free_port()}/api/"  # nothing listens there
    log = _started(tmp_path, _serve_env(tmp_path, SLACK_BOT_TOKEN="xoxb-good",
                                        SLACK_SIGNING_SECRET="s", SLACK_API_URL=down))
    assert f"WARNING firebell: slack: cannot reach {down} to check SLACK_BOT_TOKEN" in log, log
    assert "starting anyway" in log
