"""Fixtures for migration tests: empty (unmigrated) databases per dialect."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import databases


@pytest.fixture
def empty_database_url(dialect: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
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
