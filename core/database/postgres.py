"""The asyncpg Tortoise backend, with a bounded wait for a pooled connection.

asyncpg's pool waits forever when every connection is busy and Tortoise calls
`pool.acquire()` without a timeout; a wedged pool would then hang requests
silently. This backend hands Tortoise a pool whose `acquire()` gives up after
`acquire_timeout` seconds with `TimeoutError`, which the API reports as 503.

It also releases connections without asyncpg's reset query. By default every
release sends `SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET
ALL;`: one more round trip for each query made outside a transaction, twice
the round trips of a request. Terrapin leaves no session state on a pooled
connection (no SET, LISTEN, advisory lock or cursor: the LISTEN of
the event listener has a connection of its own), so there is nothing to
reset; asyncpg still rolls back a transaction left open and drops listeners.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from tortoise.backends.asyncpg.client import AsyncpgDBClient


class TimedAcquirePool:
    """Proxy an asyncpg pool, adding a timeout to every `acquire()`."""

    def __init__(self, pool: asyncpg.Pool, timeout: float) -> None:
        self._pool = pool
        self._timeout = timeout
        self.waiting = 0  # tasks inside acquire() right now (the metrics' pool waiters)

    async def acquire(self) -> Any:
        """Acquire a connection, or raise `TimeoutError` after the timeout."""
        if self._pool.get_idle_size():
            return await self._pool.acquire()  # a connection is free: nothing to wait for
        self.waiting += 1
        try:
            # asyncio.timeout, not acquire(timeout=): asyncpg's timeout runs the
            # wait in a task of its own (plus a shield), on every query. Both
            # cancel the wait the same way, which asyncpg's acquire handles.
            async with asyncio.timeout(self._timeout):
                return await self._pool.acquire()
        finally:
            self.waiting -= 1

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)


class TimedAcquireClient(AsyncpgDBClient):
    """AsyncpgDBClient whose pool acquisitions time out."""

    def __init__(self, *args: Any, acquire_timeout: float = 10.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.acquire_timeout = float(acquire_timeout)

    async def create_pool(self, **kwargs: Any) -> Any:
        """Create the asyncpg pool and wrap it with the acquire timeout."""
        pool = await super().create_pool(reset=keep_session_state, **kwargs)
        return TimedAcquirePool(pool, self.acquire_timeout)


async def keep_session_state(connection: asyncpg.Connection) -> None:
    """Release a pooled connection without a reset query (see the module docstring)."""


client_class = TimedAcquireClient
