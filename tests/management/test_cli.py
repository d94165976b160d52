"""Command-line polish: --version, and output into a closed pipe."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version

import pytest

from tests.databases import REPO_ROOT
from tests.management.conftest import manage


def test_version() -> None:
    shown = manage("sqlite://:memory:", "--version")
    assert shown.returncode == 0
    assert shown.stdout.strip() == f"terrapin {version('terrapin')}"
    assert "--version" in manage("sqlite://:memory:", "help").stdout


def _into_a_closed_pipe(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a command whose stdout reader has gone away, as with `| head` after its lines."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [sys.executable, "-m", "project", *args],
            cwd=REPO_ROOT,
            env={**os.environ, "DATABASE_URL": database_url},
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)


@pytest.mark.parametrize("args", [["help"], ["--version"], ["listusers"]])
def test_output_into_a_closed_pipe_ends_quietly(sqlite_template_url: str, args: list[str]) -> None:
    proc = _into_a_closed_pipe(sqlite_template_url, *args)
    assert proc.stderr == ""
    assert proc.returncode == 141  # as a shell reports a command ended by SIGPIPE
