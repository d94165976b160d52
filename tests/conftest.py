"""Shared fixtures: a fresh migrated database per test, on each dialect, and the app."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from tortoise.backends.base.executor import EXECUTOR_CACHE

from core.settings import Settings
from project.app import create_app
from services import Services
from tests import databases

DIALECTS = ["sqlite", "postgres"]


def pytest_configure(config: pytest.Config) -> None:
    """Fail fast in CI when PostgreSQL, which is mandatory there, is missing."""
    reason = asyncio.run(databases.pg_reachable())
    config.stash[_PG_REASON] = reason
    if reason and os.environ.get("CI") == "true":
        where = databases.pg_admin_url()
        raise pytest.UsageError(f"CI=true requires PostgreSQL at {where}: {reason}")


_PG_REASON = pytest.StashKey[str | None]()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> databases.SqliteTemplate:
    """The migrated SQLite template, built once per run."""
    return databases.create_sqlite_template(tmp_path_factory.mktemp("template"))


@pytest.fixture(scope="session")
def pg_template(request: pytest.FixtureRequest) -> Iterator[databases.PostgresTemplate]:
    """The run's migrated PostgreSQL database, dropped at the end of the run."""
    reason = request.config.stash[_PG_REASON]
    if reason:
        pytest.skip(f"PostgreSQL not reachable: {reason}")
    template = asyncio.run(databases.create_pg_template())
    yield template
    asyncio.run(databases.drop_database(template.name))


@pytest.fixture(params=DIALECTS)
def dialect(request: pytest.FixtureRequest) -> str:
    """Run the test once per database dialect."""
    return str(request.param)


@pytest.fixture
def database_url(dialect: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated database, empty at the start of this test.

    SQLite: a copy of the template file. PostgreSQL: the run's database,
    emptied after each test (creating a database per test costs seconds) and
    dropped at the end of the run.
    """
    # Tortoise caches each model's INSERT/DELETE SQL per connection *name*
    # ("default"), not per dialect: after a SQLite test, a PostgreSQL test
    # would reuse `?` placeholders. Each test starts with an empty cache.
    EXECUTOR_CACHE.clear()
    if dialect == "sqlite":
        template: databases.SqliteTemplate = request.getfixturevalue("sqlite_template")
        yield template.clone(tmp_path)
        return
    pg: databases.PostgresTemplate = request.getfixturevalue("pg_template")
    try:
        yield pg.url
    finally:
        asyncio.run(pg.empty())


@pytest.fixture
def private_database_url(
    dialect: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[str]:
    """A migrated database of this test's own, for tests that change its schema."""
    EXECUTOR_CACHE.clear()
    if dialect == "sqlite":
        template: databases.SqliteTemplate = request.getfixturevalue("sqlite_template")
        yield template.clone(tmp_path)
        return
    pg: databases.PostgresTemplate = request.getfixturevalue("pg_template")
    url, name = asyncio.run(pg.clone())
    try:
        yield url
    finally:
        asyncio.run(databases.drop_database(name))


@pytest.fixture
def empty_database_url(
    dialect: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[str]:
    """A database with no tables at all."""
    if dialect == "sqlite":
        yield f"sqlite://{tmp_path / 'empty.db'}"
        return
    request.getfixturevalue("pg_template")  # skips when PostgreSQL is unreachable
    name = f"terrapin_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(databases.admin_execute(f'CREATE DATABASE "{name}"'))
    try:
        yield databases.with_database(databases.pg_admin_url(), name)
    finally:
        asyncio.run(databases.drop_database(name))


def make_settings(database_url: str, **overrides: Any) -> Settings:
    """Settings for tests: no `.env`, no token delay, small pools."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "token_delay_ms": 0,
        "db_pool_max": 10,
        "log_level": "WARNING",
        **overrides,
    }
    return Settings(_env_file=None, **values)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a test module to change settings for its app."""
    return {}


@pytest.fixture
def settings(database_url: str, settings_overrides: dict[str, Any]) -> Settings:
    """The settings the test's app runs with."""
    return make_settings(database_url, **settings_overrides)


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    """The app under test (its lifespan runs in the `lifespan` fixture)."""
    return create_app(settings)


@pytest_asyncio.fixture
async def lifespan(app: FastAPI) -> AsyncIterator[LifespanManager]:
    """Run the app's real lifespan around the test."""
    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30) as manager:
        yield manager


@pytest.fixture
def services(app: FastAPI, lifespan: LifespanManager) -> Services:
    """The managers the app's lifespan built."""
    built: Services = app.state.services
    return built


@pytest_asyncio.fixture
async def client(lifespan: LifespanManager) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the app in-process (with the lifespan's state)."""
    transport = httpx.ASGITransport(app=lifespan.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http
