"""Hand-written queries for the hottest paths, on either dialect.

Tortoise builds every query through pypika on each call, which on a request
that reads one row costs several times the query itself. The few queries
that every request or agent turn makes are written with PostgreSQL's `$n`
placeholders; SQLite gets the same numbered parameters as `?n`.

On SQLite these reads also get a connection of their own (`SqliteReader`):
Tortoise shares one connection behind a lock, so every read would otherwise
wait for the write transaction in progress (a group-commit batch, its fsync
included). In WAL mode a reader never waits for the writer and always sees
every committed write.
"""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from uuid import UUID

import aiosqlite
from tortoise import connections
from tortoise.exceptions import OperationalError

_PLACEHOLDER = re.compile(r"\$(\d+)")


@lru_cache(maxsize=64)
def _for_sqlite(sql: str) -> str:
    return _PLACEHOLDER.sub(r"?\1", sql)


class SqliteReader:
    """A read-only connection to the SQLite file, for `fetch_rows`."""

    def __init__(self, file_path: str, busy_timeout_ms: int) -> None:
        self._file_path = file_path
        self._busy_timeout_ms = busy_timeout_ms
        self._connection: aiosqlite.Connection | None = None

    async def open(self) -> None:
        """Connect; the connection refuses writes."""
        connection = await aiosqlite.connect(self._file_path, isolation_level=None)
        connection.row_factory = sqlite3.Row
        await connection.execute("PRAGMA query_only = ON")
        await connection.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
        self._connection = connection

    async def close(self) -> None:
        """Close the connection (its thread ends with it)."""
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    async def fetch(self, sql: str, params: list[Any]) -> list[dict[str, Any]]:
        """Run one query in autocommit: a fresh snapshot of everything committed."""
        assert self._connection is not None, "SqliteReader.open() first"
        try:
            rows = list(await self._connection.execute_fetchall(_for_sqlite(sql), params))
        except sqlite3.OperationalError as exc:  # as Tortoise's own connection reports it
            raise OperationalError(exc) from exc
        if not rows:
            return []
        # One key list for all rows: dict(row) asks each Row for its keys again
        # (a 50-message page: ~130 µs against ~50 µs).
        names = rows[0].keys()
        return [dict(zip(names, row, strict=True)) for row in rows]


_reader: SqliteReader | None = None


def use_reader(reader: SqliteReader | None) -> None:
    """Route SQLite `fetch_rows` through `reader` (None: through Tortoise's connection)."""
    global _reader
    _reader = reader


def is_postgres() -> bool:
    """Whether the default connection is PostgreSQL (else SQLite)."""
    return bool(connections.get("default").capabilities.dialect == "postgres")


async def fetch_rows(sql: str, *params: Any) -> list[dict[str, Any]]:
    """Run one read query (`$1`, `$2`, … placeholders) and return its rows as dicts.

    Only for reads outside a transaction: on SQLite the reader does not see
    the caller's uncommitted writes.
    """
    if _reader is not None and not is_postgres():
        return await _reader.fetch(sql, [_sqlite_value(value) for value in params])
    return await execute_sql(sql, *params)


async def execute_sql(sql: str, *params: Any) -> list[dict[str, Any]]:
    """Run one statement on Tortoise's connection (the caller's transaction, if any).

    For writes (`UPDATE … RETURNING`) and for reads that must see the
    transaction's own uncommitted writes or its row locks.
    """
    conn = connections.get("default")
    if conn.capabilities.dialect == "postgres":
        return list(await conn.execute_query_dict(sql, list(params)))
    values = [_sqlite_value(value) for value in params]
    return list(await conn.execute_query_dict(_for_sqlite(sql), values))


def _sqlite_value(value: Any) -> Any:
    """A parameter as SQLite stores it: UUIDs and timestamps are text (as Tortoise writes them)."""
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        # Aware timestamps are stored as UTC text: text comparisons must order them.
        return (value.astimezone(UTC) if value.tzinfo else value).isoformat(sep=" ")
    return value


_EMPTY_OBJECT = ("{}", b"{}")


def json_value(value: Any) -> Any:
    """A JSON column as read: text (SQLite, asyncpg's default) or already decoded."""
    if not isinstance(value, str | bytes):
        return value
    # Most rows store an empty object (no metadata): spare the parser for it.
    return {} if value in _EMPTY_OBJECT else json.loads(value)


def datetime_value(value: Any) -> datetime | None:
    """A timestamp column as read: ISO text (SQLite) or already a datetime (PostgreSQL)."""
    if value is None or isinstance(value, datetime):
        return value
    parsed = datetime.fromisoformat(str(value))  # in C: the ORM's pure-Python parser is slower
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
