"""The PostgreSQL pool: bounded waits, and one round trip per query."""

from __future__ import annotations

from typing import Any

import pytest
from tortoise import connections

from services import Services


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """One pooled connection, so the test gets the same connection back."""
    return {"db_pool_max": 1, "db_pool_min": 1}


async def test_a_released_connection_gets_no_reset_query(services: Services, dialect: str) -> None:
    if dialect != "postgres":
        pytest.skip("SQLite has no connection pool")
    client = connections.get("default")
    async with client.acquire_connection() as connection:
        sent: list[str] = []
        connection.add_query_logger(lambda record: sent.append(record.query))
        await connection.execute("SELECT 1")
    # asyncpg's default reset would have sent "... RESET ALL;" on release.
    assert sent == ["SELECT 1"]
    rows = await client.execute_query_dict("SELECT 2 AS two")
    assert rows == [{"two": 2}]
