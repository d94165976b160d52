"""A read snapshot sees one state of the database, refuses writes, and never blocks writers."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from tortoise.exceptions import OperationalError

from core.database import Statement
from core.database.snapshot import read_snapshot
from models import ChatSession
from services import Services
from tests.factories import make_session, make_user

_COUNT = Statement(lambda: "SELECT COUNT(*) AS n FROM chat_session")
_RENAME = Statement(lambda: "UPDATE chat_session SET title = $1 RETURNING id")


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # A writer blocked by the snapshot would give up within the test's wait.
    return {"sqlite_busy_timeout_ms": 1000}


async def test_a_snapshot_keeps_its_state_while_writers_commit(
    client: httpx.AsyncClient, services: Services
) -> None:
    headers = await make_user(services)
    await make_session(client, headers, title="before")
    async with read_snapshot(services.database) as snapshot:
        [first] = await snapshot.fetch(_COUNT)
        # The server's writes go on while the snapshot is open...
        await asyncio.wait_for(make_session(client, headers, title="after"), timeout=5)
        assert await ChatSession.all().count() == 2
        # ...and the snapshot does not see them.
        [again] = await snapshot.fetch(_COUNT)
        assert first["n"] == again["n"] == 1


async def test_a_snapshot_refuses_writes(client: httpx.AsyncClient, services: Services) -> None:
    headers = await make_user(services)
    await make_session(client, headers, title="kept")
    async with read_snapshot(services.database) as snapshot:
        with pytest.raises(OperationalError):
            await snapshot.fetch(_RENAME, "changed")
    assert [s.title for s in await ChatSession.all()] == ["kept"]
