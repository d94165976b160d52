"""Settings: environment names, defaults, and one-line errors for bad values."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from core.settings import Settings, SettingsError, load_settings
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
