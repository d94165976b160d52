"""The SQLite Tortoise backend, with transactions that take the write lock up front.

A deferred `BEGIN` that reads and later writes fails with "database is
locked" when another process writes meanwhile (SQLite skips the busy handler
on a lock upgrade); `BEGIN IMMEDIATE` takes the write lock first and waits
its turn instead. The connection config names this module as the engine
(`core/database/config.py`), so every process opens SQLite this way.
"""

from __future__ import annotations

import sqlite3

from tortoise.backends.base.client import NestedTransactionContext, TransactionContext
from tortoise.backends.sqlite.client import (
    SqliteClient,
    SqliteTransactionContext,
    SqliteTransactionWrapper,
)
from tortoise.exceptions import TransactionManagementError


class ImmediateTransaction(SqliteTransactionWrapper):
    """A SQLite transaction that begins with BEGIN IMMEDIATE."""

    def _in_transaction(self) -> TransactionContext:
        return NestedTransactionContext(ImmediateTransaction(self))

    async def begin(self) -> None:
        """Take the write lock now (Tortoise's own begin issues a plain BEGIN)."""
        try:
            # Tortoise's connection is in autocommit mode: a transaction is open
            # here only if something left one behind, and it is committed first.
            if self._connection.in_transaction:
                await self._connection.commit()
            await self._connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise TransactionManagementError(exc) from exc


class ImmediateSqliteClient(SqliteClient):
    """SqliteClient whose transactions are `ImmediateTransaction`s."""

    def _in_transaction(self) -> TransactionContext:
        return SqliteTransactionContext(ImmediateTransaction(self), self._lock)


client_class = ImmediateSqliteClient
