"""Command-line polish: revoking by a whole token, --version, closed pipes, user names, devuser."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib.metadata import version

import pytest

from services.auth.users import PREFIX_CHARS, TOKEN_PREFIX
from tests.databases import REPO_ROOT
from tests.management.conftest import assert_one_line_error, last_line, manage


def test_revoketoken_takes_a_whole_leaked_token(database_url: str) -> None:
    token = last_line(manage(database_url, "createuser", "leaky").stdout)
    other = last_line(manage(database_url, "createtoken", "leaky").stdout)

    revoked = manage(database_url, "revoketoken", token)
    assert revoked.returncode == 0, revoked.stderr
    assert "revoked 1 token(s)" in revoked.stdout
    assert token not in revoked.stdout + revoked.stderr  # a secret is never echoed
    listed = manage(database_url, "listusers").stdout
    assert token[:PREFIX_CHARS] not in listed and other[:PREFIX_CHARS] in listed

    again = manage(database_url, "revoketoken", token)
    assert_one_line_error(again, "no live token", token[:PREFIX_CHARS])
    assert token not in again.stderr


def test_revoketoken_refuses_what_names_no_token_in_one_line(sqlite_template_url: str) -> None:
    assert_one_line_error(
        manage(sqlite_template_url, "revoketoken", "tp_AbC"), "12 characters", "listusers"
    )
    whole = TOKEN_PREFIX + "x" * 43  # shaped like a token, but never issued
    assert_one_line_error(manage(sqlite_template_url, "revoketoken", whole), "no live token")


def test_revoketoken_help_example_has_the_shape_of_a_real_prefix() -> None:
    shown = manage("sqlite://:memory:", "help", "revoketoken")
    assert shown.returncode == 0
    example = re.search(r"e\.g\.\s+(\S+),", shown.stdout)
    assert example is not None, shown.stdout
    assert len(example[1]) == PREFIX_CHARS and example[1].startswith(TOKEN_PREFIX)


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


def test_createuser_refuses_a_bad_name_with_the_rule(database_url: str) -> None:
    refused = manage(database_url, "createuser", "bad name!")
    assert_one_line_error(refused, "'bad name!'", "letters", "digits", "_ - @")
    assert manage(database_url, "createuser", "x" * 65).returncode != 0
    created = manage(database_url, "createuser", "ci-bot.v2@example.com")
    assert created.returncode == 0, created.stderr
    assert "1 user(s)" in manage(database_url, "listusers").stdout


def test_devuser_again_says_how_to_get_a_token(database_url: str) -> None:
    first = manage(database_url, "devuser")
    assert first.returncode == 0 and "created user 'dev'" in first.stdout
    again = manage(database_url, "devuser")
    assert again.returncode == 0, again.stderr
    assert "user 'dev' exists already" in again.stdout
    assert "python -m project createtoken dev" in again.stdout


def test_devuser_with_a_bad_name_is_one_line(sqlite_template_url: str) -> None:
    proc = manage(sqlite_template_url, "devuser", env={"TERRAPIN_DEV_USER": "dev user"})
    assert_one_line_error(proc, "TERRAPIN_DEV_USER", "'dev user'")
