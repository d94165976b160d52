"""A database that cannot be opened is one line and a non-zero exit, for every command.

Real bad URLs: PostgreSQL with an unknown database, an unknown role and a
closed port; SQLite whose file cannot be created. `migrate` and
`showmigrations` go through Aerich, the others through Tortoise.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests import databases
from tests.management.conftest import assert_one_line_error, manage

COMMANDS = (["migrate"], ["showmigrations"], ["listusers"], ["createuser", "zoe"])


def assert_every_command_fails_in_one_line(url: str, *fragments: str) -> None:
    for command in COMMANDS:
        proc = manage(url, *command)
        assert_one_line_error(proc, "cannot reach the database", *fragments)
        assert "secret" not in proc.stderr  # the password is never printed


@pytest.fixture
def pg_server_url(request: pytest.FixtureRequest) -> str:
    """The test PostgreSQL server's admin URL (skips when it is unreachable)."""
    request.getfixturevalue("pg_template")
    return databases.pg_admin_url()


def test_postgres_unknown_database(pg_server_url: str) -> None:
    url = databases.with_database(pg_server_url, "terrapin_no_such_database")
    assert_every_command_fails_in_one_line(url, 'database "terrapin_no_such_database"')


def test_postgres_unknown_role(pg_server_url: str) -> None:
    parts = urlsplit(pg_server_url)
    netloc = f"terrapin_no_such_role:secret@{parts.hostname}:{parts.port or 5432}"
    url = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    assert_every_command_fails_in_one_line(url, "terrapin_no_such_role")


def test_postgres_closed_port() -> None:
    assert_every_command_fails_in_one_line(
        "postgres://postgres:secret@127.0.0.1:1/terrapin", "127.0.0.1:1"
    )


def test_sqlite_path_under_a_file(tmp_path: Path) -> None:
    (tmp_path / "plain-file").write_text("")
    path = tmp_path / "plain-file" / "terrapin.db"
    assert_every_command_fails_in_one_line(f"sqlite://{path}", str(tmp_path / "plain-file"))


def test_sqlite_path_that_is_a_folder(tmp_path: Path) -> None:
    # Before, `migrate` hung here and `listusers` called the folder "not migrated".
    assert_every_command_fails_in_one_line(f"sqlite://{tmp_path}", "unable to open")
