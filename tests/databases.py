"""Per-test databases on SQLite and PostgreSQL, cloned from a migrated template.

The template is migrated once per run with the real `python -m project
migrate`, so every test runs against the schema that production gets.
SQLite tests copy the template file; PostgreSQL tests `CREATE DATABASE ...
TEMPLATE` and drop the database afterwards.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

import models

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PG_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"


def pg_admin_url() -> str:
    """The server used for PostgreSQL tests (TEST_DATABASE_URL)."""
    return os.environ.get("TEST_DATABASE_URL", DEFAULT_PG_ADMIN_URL)


def with_database(url: str, name: str) -> str:
    """Return `url` pointing at database `name`."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def asyncpg_dsn(url: str) -> str:
    """Return a DSN asyncpg accepts for a Tortoise-style URL."""
    return url.replace("postgres://", "postgresql://", 1)


async def pg_reachable() -> str | None:
    """Return None if PostgreSQL answers, else the reason it does not."""
    try:
        conn = await asyncpg.connect(asyncpg_dsn(pg_admin_url()), timeout=3)
    except Exception as exc:  # any failure means "not reachable" for the skip decision
        return f"{type(exc).__name__}: {exc}"
    await conn.close()
    return None


def migrate(database_url: str) -> None:
    """Apply every migration with the real management command."""
    env = {**os.environ, "DATABASE_URL": database_url}
    proc = subprocess.run(
        [sys.executable, "-m", "project", "migrate"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"migrate failed: {proc.stdout}\n{proc.stderr}")


@dataclass
class SqliteTemplate:
    """A migrated SQLite file copied for each test."""

    path: Path

    def clone(self, target_dir: Path) -> str:
        """Copy the template and return its URL."""
        target = target_dir / "terrapin.db"
        shutil.copyfile(self.path, target)
        return f"sqlite://{target}"


@dataclass
class PostgresTemplate:
    """The run's migrated PostgreSQL database, emptied between tests."""

    name: str

    @property
    def url(self) -> str:
        """The database's URL."""
        return with_database(pg_admin_url(), self.name)

    async def clone(self) -> tuple[str, str]:
        """Create a separate database from this one; return (url, name)."""
        name = f"terrapin_test_{uuid.uuid4().hex[:12]}"
        await admin_execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.name}"')
        return with_database(pg_admin_url(), name), name

    async def empty(self) -> None:
        """Delete every row of every model table (the schema and Aerich's table stay)."""
        tables = ", ".join(f'"{model._meta.db_table}"' for model in models.__models__)
        conn = await asyncpg.connect(asyncpg_dsn(self.url))
        try:
            # Sessions left by a killed server process must not block the truncate.
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = $1 AND pid <> pg_backend_pid()",
                self.name,
            )
            await conn.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        finally:
            await conn.close()


async def admin_execute(sql: str) -> None:
    """Run one statement on the PostgreSQL maintenance database."""
    conn = await asyncpg.connect(asyncpg_dsn(pg_admin_url()))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def drop_database(name: str) -> None:
    """Drop a test database, disconnecting any session still on it."""
    await admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def create_pg_template() -> PostgresTemplate:
    """Create and migrate the PostgreSQL template database."""
    name = f"terrapin_tpl_{uuid.uuid4().hex[:12]}"
    await admin_execute(f'CREATE DATABASE "{name}"')
    migrate(with_database(pg_admin_url(), name))
    return PostgresTemplate(name)


def create_sqlite_template(folder: Path) -> SqliteTemplate:
    """Create and migrate the SQLite template file."""
    path = folder / "template.db"
    migrate(f"sqlite://{path}")
    return SqliteTemplate(path)
