"""The process's database: its dialect, hand-written statements, and committed reads.

Tortoise runs every ORM query; `Database` runs the few statements written by
hand (each one lives with its model, see `models/columns.py`). It renders
them for the dialect, adapts their parameters, and on SQLite gives reads of
committed data a read-only connection of their own: Tortoise shares one
connection behind a lock, so those reads would otherwise queue behind the
write transaction in progress, its fsync included. In WAL mode that reader
never waits for the writer and always sees every committed write, but not
the uncommitted writes of a transaction, so it refuses to serve inside one.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

import aiosqlite
from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient, TransactionalDBClient
from tortoise.exceptions import OperationalError

from core.database.config import connection_config
from core.database.values import sqlite_parameter
from core.settings import Settings

T = TypeVar("T")

_PLACEHOLDER = re.compile(r"\$(\d+)")
# `col = ANY($n)` takes a list parameter: a PostgreSQL array, a JSON array on SQLite.
_ANY_LIST = re.compile(r"= ANY\(\$(\d+)\)")


class Dialect(StrEnum):
    """The SQL dialects Terrapin runs on."""

    SQLITE = "sqlite"
    POSTGRES = "postgres"


@dataclass(frozen=True, eq=False)
class Statement:
    """One hand-written statement, written with `$1, $2, …` placeholders.

    `build` returns its SQL. It runs when a `Database` first executes the
    statement (the models' relations, and so their foreign-key columns, are
    only known once the ORM is initialised); each `Database` renders it once
    for its dialect and keeps the text.
    """

    build: Callable[[], str]
    # Set for a statement that exists in one dialect only (PostgreSQL's NOTIFY).
    only: Dialect | None = None

    def render(self, dialect: Dialect) -> str:
        """The statement's text for `dialect`.

        SQLite numbers its parameters `?1, ?2, …`, and reads a list parameter
        (`col = ANY($n)`) from a JSON array with `json_each`.
        """
        text = " ".join(self.build().split())
        if dialect is Dialect.POSTGRES:
            return text
        text = _ANY_LIST.sub(r"IN (SELECT value FROM json_each($\1))", text)
        return _PLACEHOLDER.sub(r"?\1", text)


def literal(value: StrEnum) -> str:
    """An enum value as an SQL string literal, for conditions fixed at import time."""
    return "'" + str(value).replace("'", "''") + "'"


def literals(values: Iterable[StrEnum]) -> str:
    """Enum values as a comma-separated list of SQL literals (sorted: stable text)."""
    return ", ".join(literal(value) for value in sorted(values))


class ReadInTransaction(RuntimeError):
    """A committed-data read was asked for inside a transaction (it would miss its writes)."""


class SqliteReader:
    """A read-only connection to the SQLite file, for reads of committed data."""

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
        if self._connection is None:
            raise RuntimeError("the SQLite reader is not open")
        try:
            rows = list(await self._connection.execute_fetchall(sql, params))
        except sqlite3.OperationalError as exc:  # as Tortoise's own connection reports it
            raise OperationalError(exc) from exc
        if not rows:
            return []
        # One key list for all rows: dict(row) asks each Row for its keys again.
        names = rows[0].keys()
        return [dict(zip(names, row, strict=True)) for row in rows]


class Database:
    """Run hand-written statements on the ORM's connection or, for committed reads, the reader."""

    def __init__(self, dialect: Dialect, reader: SqliteReader | None = None) -> None:
        self.dialect = dialect
        self._reader = reader
        self._texts: dict[Statement, str] = {}
        self._derived: dict[object, Any] = {}

    @classmethod
    def for_settings(cls, settings: Settings) -> Database:
        """The database `settings` name (not connected yet: see `open`)."""
        if not settings.is_sqlite:
            return cls(Dialect.POSTGRES)
        file_path = str(connection_config(settings)["credentials"]["file_path"])
        if file_path == ":memory:":
            return cls(Dialect.SQLITE)  # another connection would open another, empty database
        return cls(Dialect.SQLITE, SqliteReader(file_path, settings.sqlite_busy_timeout_ms))

    @classmethod
    @asynccontextmanager
    async def opened(cls, settings: Settings) -> AsyncIterator[Database]:
        """Open the database for the duration of the block (Tortoise must be initialised)."""
        database = cls.for_settings(settings)
        await database.open()
        try:
            yield database
        finally:
            await database.close()

    async def open(self) -> None:
        """Open the SQLite reader, if there is one."""
        if self._reader is not None:
            await self._reader.open()

    async def close(self) -> None:
        """Close the SQLite reader, if there is one."""
        if self._reader is not None:
            await self._reader.close()

    @property
    def is_postgres(self) -> bool:
        """Whether this is PostgreSQL (else SQLite)."""
        return self.dialect is Dialect.POSTGRES

    async def execute(self, statement: Statement, *params: Any) -> list[dict[str, Any]]:
        """Run a statement on the ORM's connection: inside the caller's transaction, if any.

        For writes (`UPDATE … RETURNING`) and for reads that must see the
        transaction's own writes or hold its row locks.
        """
        return await self._run_on(connections.get("default"), statement, params)

    async def fetch_committed(self, statement: Statement, *params: Any) -> list[dict[str, Any]]:
        """Run a read of committed data; refused inside a transaction (see the module doc)."""
        connection = connections.get("default")
        if isinstance(connection, TransactionalDBClient):
            raise ReadInTransaction(
                "fetch_committed() inside a transaction would not see its writes; use execute()"
            )
        if self._reader is not None:
            values = [sqlite_parameter(value) for value in params]
            return await self._reader.fetch(self.text(statement), values)
        return await self._run_on(connection, statement, params)

    def text(self, statement: Statement) -> str:
        """The statement's SQL for this database's dialect (rendered on first use)."""
        text = self._texts.get(statement)
        if text is None:
            if statement.only not in (None, self.dialect):
                raise ValueError(f"a {statement.only} statement cannot run on {self.dialect}")
            text = self._texts[statement] = statement.render(self.dialect)
        return text

    def derived(self, key: object, build: Callable[[], T]) -> T:
        """What `build` derives for `key`, built on first use and kept (e.g. a row decoder)."""
        try:
            value: T = self._derived[key]
        except KeyError:
            value = self._derived[key] = build()
        return value

    async def _run_on(
        self, connection: BaseDBAsyncClient, statement: Statement, params: tuple[Any, ...]
    ) -> list[dict[str, Any]]:
        if self.is_postgres:
            return list(await connection.execute_query_dict(self.text(statement), list(params)))
        values = [sqlite_parameter(value) for value in params]
        return list(await connection.execute_query_dict(self.text(statement), values))
