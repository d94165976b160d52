"""One read-only snapshot of the whole database, for reads that must agree with each other.

Reads made one after the other in autocommit each see a later state than the
one before: a backup read that way holds messages whose session it read
before they existed, and counters behind their rows. A `Snapshot` is one read
transaction that all its reads share, on a connection of its own:

- PostgreSQL: a pooled connection in a `REPEATABLE READ, READ ONLY`
  transaction; every statement sees the database as of the first one.
- SQLite: a second connection to the file, in a deferred `BEGIN`. In WAL mode
  the first read fixes the snapshot and the server's writers go on
  committing meanwhile. (The ORM's own transactions begin `IMMEDIATE`, which
  takes the write lock: held for a whole backup, it would stop every write.)
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import aiosqlite
import asyncpg
from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.backends.sqlite.client import SqliteClient
from tortoise.exceptions import OperationalError

from core.database.database import Database, Statement
from core.database.values import sqlite_parameter

Rows = Sequence[Mapping[str, Any]]
_Fetch = Callable[[str, list[Any]], Awaitable[Rows]]


class Snapshot:
    """Reads that all see the same committed state of the database."""

    def __init__(self, database: Database, fetch: _Fetch) -> None:
        self._database = database
        self._fetch = fetch

    async def fetch(self, statement: Statement, *params: Any) -> Rows:
        """Run a read in the snapshot; each row maps its column names to values."""
        if self._database.is_postgres:
            values = list(params)
        else:
            values = [sqlite_parameter(value) for value in params]
        return await self._fetch(self._database.text(statement), values)


@asynccontextmanager
async def read_snapshot(database: Database) -> AsyncIterator[Snapshot]:
    """Open a snapshot of the ORM's database for the duration of the block."""
    client = connections.get("default")
    opened = _postgres_snapshot(client) if database.is_postgres else _sqlite_snapshot(client)
    async with opened as fetch:
        yield Snapshot(database, fetch)


@asynccontextmanager
async def _postgres_snapshot(client: BaseDBAsyncClient) -> AsyncIterator[_Fetch]:
    async with client.acquire_connection() as connection:
        async with connection.transaction(isolation="repeatable_read", readonly=True):

            async def fetch(sql: str, params: list[Any]) -> Rows:
                try:
                    rows = await connection.fetch(sql, *params)
                except asyncpg.PostgresError as exc:  # as the ORM's own queries report it
                    raise OperationalError(exc) from exc
                return [dict(row) for row in rows]

            yield fetch


@asynccontextmanager
async def _sqlite_snapshot(client: BaseDBAsyncClient) -> AsyncIterator[_Fetch]:
    if not isinstance(client, SqliteClient) or client.filename == ":memory:":
        raise OperationalError("a snapshot needs a SQLite file (an in-memory database has none)")
    connection = await aiosqlite.connect(client.filename, isolation_level=None)
    try:
        connection.row_factory = sqlite3.Row
        await connection.execute("PRAGMA query_only = ON")
        busy_timeout = int(client.pragmas.get("busy_timeout", 0))
        await connection.execute(f"PRAGMA busy_timeout = {busy_timeout}")
        await connection.execute("BEGIN")  # deferred: no lock until the first read

        async def fetch(sql: str, params: list[Any]) -> Rows:
            try:
                rows = list(await connection.execute_fetchall(sql, params))
            except sqlite3.Error as exc:  # as the ORM's own queries report it
                raise OperationalError(exc) from exc
            names = rows[0].keys() if rows else []
            return [dict(zip(names, row, strict=True)) for row in rows]

        yield fetch
    finally:
        await connection.close()  # ends the read transaction with the connection
