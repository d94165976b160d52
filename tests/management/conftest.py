"""Helpers for management tests: run `python -m project` in a subprocess, seed data."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import databases
from tests.databases import REPO_ROOT


def manage(
    database_url: str, *args: str, stdin: str = "", timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run one management command against `database_url`; stdin is a pipe, never a tty."""
    env = {**os.environ, "DATABASE_URL": database_url, "TERRAPIN_LOG_LEVEL": "WARNING"}
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
def unmigrated_url(dialect: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no tables at all."""
    if dialect == "sqlite":
        yield f"sqlite://{tmp_path / 'unmigrated.db'}"
        return
    request.getfixturevalue("pg_template")  # skips when PostgreSQL is unreachable
    name = f"terrapin_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(databases.admin_execute(f'CREATE DATABASE "{name}"'))
    try:
        yield databases.with_database(databases.pg_admin_url(), name)
    finally:
        asyncio.run(databases.drop_database(name))


@pytest.fixture
def sqlite_template_url(sqlite_template: databases.SqliteTemplate, tmp_path: Path) -> str:
    """A fresh migrated SQLite database, for tests where the dialect does not matter."""
    return sqlite_template.clone(tmp_path)
