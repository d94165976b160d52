"""The database object: committed reads, the SQLite reader, statement rendering."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import pytest
from tortoise.exceptions import OperationalError
from tortoise.transactions import in_transaction

from core.database import Dialect, ReadInTransaction, Statement
from core.database.database import SqliteReader
from models import ChatSession
from services import Services
from tests.factories import make_session, make_user


async def test_a_session_read_completes_while_a_write_transaction_is_open(
    client: httpx.AsyncClient, services: Services, dialect: str
) -> None:
    if dialect != "sqlite":
        pytest.skip("PostgreSQL reads use the pool; only SQLite shares one ORM connection")
    headers = await make_user(services)
    session = await make_session(client, headers, title="before")
    writing, release = asyncio.Event(), asyncio.Event()

    async def slow_write() -> None:
        async with in_transaction():
            await ChatSession.filter(id=session["id"]).update(title="uncommitted")
            writing.set()
            await release.wait()

    writer = asyncio.create_task(slow_write())
    await writing.wait()
    try:
        # Through the ORM's shared connection this read would wait for `release`.
        response = await asyncio.wait_for(
            client.get(f"/api/v1/sessions/{session['id']}", headers=headers), timeout=5
        )
        assert response.status_code == 200
        assert response.json()["title"] == "before"  # only committed data is visible
    finally:
        release.set()
        await writer
    response = await client.get(f"/api/v1/sessions/{session['id']}", headers=headers)
    assert response.json()["title"] == "uncommitted"


async def test_the_reader_reports_errors_as_the_orm_connection_does(tmp_path: Path) -> None:
    reader = SqliteReader(str(tmp_path / "unmigrated.db"), busy_timeout_ms=100)
    await reader.open()
    try:
        with pytest.raises(OperationalError, match="no such table"):
            await reader.fetch("SELECT id FROM chat_session WHERE id = ?1", ["x"])
    finally:
        await reader.close()


async def test_a_committed_read_is_refused_inside_a_transaction(services: Services) -> None:
    # On SQLite the reader would miss the transaction's own writes; on PostgreSQL
    # the pool would read on another connection. Either way: an error, not a wrong answer.
    with pytest.raises(ReadInTransaction):
        async with in_transaction():
            await ChatSession.live(services.database, uuid.uuid4())
    assert await ChatSession.live(services.database, uuid.uuid4()) is None


def test_statements_are_rendered_for_each_dialect() -> None:
    statement = Statement(lambda: "SELECT id FROM run WHERE id = ANY($1) AND seq > $2")
    assert statement.render(Dialect.POSTGRES) == statement.build()
    assert statement.render(Dialect.SQLITE) == (
        "SELECT id FROM run WHERE id IN (SELECT value FROM json_each(?1)) AND seq > ?2"
    )
