"""The PostgreSQL pool: bounded waits, and one round trip per query."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from tortoise import connections

from services import Services
from tests.factories import make_user


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """One pooled connection, so the test gets the same connection back."""
    return {"db_pool_max": 1, "db_pool_min": 1, "db_acquire_timeout_seconds": 0.3}


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


async def test_a_request_that_cannot_get_a_connection_is_answered_503(
    client: httpx.AsyncClient, services: Services, dialect: str
) -> None:
    if dialect != "postgres":
        pytest.skip("SQLite has no connection pool")
    headers = await make_user(services)
    pool = connections.get("default")._pool
    async with connections.get("default").acquire_connection():  # the only connection
        response = await client.get("/api/v1/sessions", headers=headers)
        assert response.status_code == 503
        assert response.json()["code"] == "database_unavailable"
        assert pool.waiting == 0
    # The timed-out wait gave nothing away: the pool still serves.
    assert (await client.get("/api/v1/sessions", headers=headers)).status_code == 200
