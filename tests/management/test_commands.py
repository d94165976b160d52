"""Users and tokens, runserver's refusal, showmigrations, unmigrated databases, help."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import httpx
from asgi_lifespan import LifespanManager

from project.app import create_app
from tests.conftest import make_settings
from tests.databases import REPO_ROOT
from tests.management.conftest import assert_one_line_error, last_line, manage


def test_createuser_token_authenticates_a_request(database_url: str) -> None:
    created = manage(database_url, "createuser", "dana", "--admin")
    assert created.returncode == 0, created.stderr
    token = last_line(created.stdout)
    assert asyncio.run(_list_sessions(database_url, token)) == 200
    assert asyncio.run(_list_sessions(database_url, token + "x")) == 401


async def _list_sessions(database_url: str, token: str) -> int:
    app = create_app(make_settings(database_url))
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.get(
                "/api/v1/sessions", headers={"Authorization": f"Bearer {token}"}
            )
            return response.status_code


def test_tokens_are_issued_listed_and_revoked(sqlite_template_url: str) -> None:
    url = sqlite_template_url
    assert manage(url, "createuser", "erin").returncode == 0
    issued = manage(url, "createtoken", "erin", "--label", "ci")
    assert issued.returncode == 0, issued.stderr
    prefix = last_line(issued.stdout)[:12]
    listed = manage(url, "listusers")
    assert "erin" in listed.stdout and prefix in listed.stdout

    dry = manage(url, "revoketoken", prefix, "--dry-run")
    assert dry.returncode == 0 and "would revoke 1" in dry.stdout
    revoked = manage(url, "revoketoken", prefix)
    assert revoked.returncode == 0 and "revoked 1" in revoked.stdout, revoked.stderr
    assert_one_line_error(manage(url, "revoketoken", prefix), "no live token")


def test_runserver_refuses_sqlite_workers_in_one_line(sqlite_template_url: str) -> None:
    refused = manage(sqlite_template_url, "runserver", "--workers", "2")
    assert_one_line_error(refused, "SQLite", "postgres")


def _aerich(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "aerich", "-c", "aerich.ini", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _pending(showmigrations: str) -> list[str]:
    return [line[5:] for line in showmigrations.splitlines() if line.startswith(" [ ] ")]


def test_showmigrations_agrees_with_aerich_heads(private_database_url: str) -> None:
    database_url = private_database_url  # this test downgrades the schema
    shown = manage(database_url, "showmigrations")
    assert shown.returncode == 0, shown.stderr
    assert _pending(shown.stdout) == []
    assert _aerich(database_url, "heads").stdout.strip() == "No available heads."

    assert _aerich(database_url, "downgrade", "--yes").returncode == 0
    heads = _aerich(database_url, "heads").stdout.split()
    assert len(heads) == 1
    assert _pending(manage(database_url, "showmigrations").stdout) == heads


def test_commands_on_an_unmigrated_database_are_one_line(empty_database_url: str) -> None:
    for args in (["listusers"], ["shell", "-c", "1"]):
        assert_one_line_error(manage(empty_database_url, *args), "not migrated", "migrate")
    shown = manage(empty_database_url, "showmigrations")
    assert shown.returncode == 0 and "0 applied" in shown.stdout


def test_unreachable_database_is_one_line() -> None:
    proc = manage("postgres://postgres@127.0.0.1:1/nothing", "listusers")
    assert_one_line_error(proc, "cannot reach the database")


def test_help_lists_every_command() -> None:
    proc = manage("sqlite://:memory:", "help")
    assert proc.returncode == 0
    for name in (
        "backup",
        "createtoken",
        "listusers",
        "restore",
        "revoketoken",
        "run",
        "shell",
        "showmigrations",
    ):
        assert f"  {name} " in proc.stdout
