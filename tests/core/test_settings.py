"""Settings: environment names, defaults, one-line errors for bad values, warnings for typos."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.settings import (
    AgentProvider,
    LogFormat,
    Settings,
    SettingsError,
    load_settings,
    settings_warnings,
)
from project.app import create_app
from tests import databases
from tests.databases import REPO_ROOT


def test_environment_names_from_the_design(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@h:5432/d")
    monkeypatch.setenv("TERRAPIN_TOOLS_REQUIRING_APPROVAL", "remember, clock")
    monkeypatch.setenv("TERRAPIN_RUN_LEASE_SECONDS", "12")
    monkeypatch.setenv("TERRAPIN_AGENT_PROVIDER", "openai")
    settings = Settings(_env_file=None)
    assert settings.database_url == "postgres://u:p@h:5432/d"
    assert settings.tools_requiring_approval == frozenset({"remember", "clock"})
    assert settings.run_lease_seconds == 12
    assert settings.agent_provider == "openai"
    assert not settings.is_sqlite


def test_defaults_serve_an_embedded_sqlite_file() -> None:
    settings = Settings(_env_file=None)
    assert settings.database_url.startswith("sqlite://data/")
    assert settings.tools_requiring_approval == frozenset({"remember"})


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("TERRAPIN_RUN_LEASE_SECONDS", "soon"),
        ("TERRAPIN_AGENT_PROVIDER", "magic"),
        ("DATABASE_URL", "mysql://x"),
        ("DATABASE_URL", "postgres://u@h:port/d"),
        ("TERRAPIN_DB_POOL_MAX", "0"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert variable in message
    assert "\n" not in message


def test_server_refuses_to_start_with_a_bad_value() -> None:
    env = {**os.environ, "TERRAPIN_RUN_LEASE_SECONDS": "-3"}
    proc = subprocess.run(
        [sys.executable, "-m", "project", "runserver", "--port", "1"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "TERRAPIN_RUN_LEASE_SECONDS" in lines[0]
    assert "Traceback" not in proc.stderr


def test_pool_min_above_max_is_a_settings_error_naming_both(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TERRAPIN_DB_POOL_MIN", "5")
    monkeypatch.setenv("TERRAPIN_DB_POOL_MAX", "2")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert "TERRAPIN_DB_POOL_MIN" in message and "TERRAPIN_DB_POOL_MAX" in message
    assert "database" not in message


def test_choices_accept_any_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERRAPIN_AGENT_PROVIDER", "OpenAI")
    monkeypatch.setenv("TERRAPIN_LOG_FORMAT", "JSON")
    settings = Settings(_env_file=None)
    assert settings.agent_provider is AgentProvider.OPENAI
    assert settings.log_format is LogFormat.JSON


def test_unknown_variables_are_warned_about_by_name(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("TERRAPIN_LOG_LEVL=DEBUG\nTERRAPIN_LOG_FORMAT=json\n")
    monkeypatch.setenv("TERRAPIN_AGENT_PROVDER", "openai")
    monkeypatch.setenv("TERRAPIN_AGENT_MODEL", "m")
    warnings = settings_warnings()
    assert [w for w in warnings if "PROVDER" in w] == [
        "unknown setting TERRAPIN_AGENT_PROVDER is ignored (did you mean TERRAPIN_AGENT_PROVIDER?)"
    ]
    assert any("TERRAPIN_LOG_LEVL" in w and "TERRAPIN_LOG_LEVEL" in w for w in warnings)
    assert not any("TERRAPIN_AGENT_MODEL" in w or "LOG_FORMAT" in w for w in warnings)


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "project", *args],
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_misspelled_tool_stops_startup_in_one_line() -> None:
    proc = _manage(
        "runserver", "--port", "1", TERRAPIN_TOOLS_REQUIRING_APPROVAL="remember,calculater"
    )
    assert proc.returncode == 2, proc.stderr  # a settings error, not uvicorn's startup failure
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "TERRAPIN_TOOLS_REQUIRING_APPROVAL" in lines[0] and "calculater" in lines[0]
    assert "calculator, clock, remember, recall" in lines[0]


def test_app_factory_refuses_a_misspelled_tool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERRAPIN_TOOLS_REQUIRING_APPROVAL", "clocks")
    with pytest.raises(SystemExit) as caught:
        create_app()
    assert "TERRAPIN_TOOLS_REQUIRING_APPROVAL" in str(caught.value.code)


def test_commands_warn_about_an_unknown_variable(
    sqlite_template: databases.SqliteTemplate, tmp_path: Path
) -> None:
    url = sqlite_template.clone(tmp_path)
    proc = _manage("listusers", DATABASE_URL=url, TERRAPIN_AGENT_PROVDER="openai")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "terrapin: warning: unknown setting TERRAPIN_AGENT_PROVDER is ignored "
        "(did you mean TERRAPIN_AGENT_PROVIDER?)"
    ]
