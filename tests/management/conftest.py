"""Helpers for management tests: run `python -m project` in a subprocess, seed data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import databases
from tests.databases import REPO_ROOT


def manage(
    database_url: str,
    *args: str,
    stdin: str = "",
    timeout: float = 60,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run one management command against `database_url`; stdin is a pipe, never a tty."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "TERRAPIN_LOG_LEVEL": "WARNING",
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "project", *args],
        cwd=REPO_ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def last_line(text: str) -> str:
    """The last non-empty line of a command's output."""
    return text.strip().splitlines()[-1]


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """A failed command: non-zero exit, one `terrapin:` line on stderr, no traceback."""
    assert proc.returncode != 0, proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("terrapin: "), proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture
def sqlite_template_url(sqlite_template: databases.SqliteTemplate, tmp_path: Path) -> str:
    """A fresh migrated SQLite database, for tests where the dialect does not matter."""
    return sqlite_template.clone(tmp_path)
