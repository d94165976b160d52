"""The per-user request rate limit: a fixed-window counter shared by every worker."""

from __future__ import annotations

import math
from uuid import UUID

from core.clock import utcnow
from core.database import Database
from core.errors import ErrorCode, TooManyRequests
from models import RequestCount

WINDOW_SECONDS = 60


class MemoryCounts:
    """Counts of the current window in this process: SQLite has one server process.

    A per-request write there would take the database's only write lock and
    flush the disk, for a count no other process needs to see.
    """

    def __init__(self) -> None:
        self._window = -1
        self._counts: dict[UUID, int] = {}

    async def hit(self, user_id: UUID, window_start: int, limit: int) -> bool:
        """Count one request; False (nothing counted) once the window holds `limit`."""
        if window_start != self._window:
            self._window, self._counts = window_start, {}
        count = self._counts.get(user_id, 0)
        if count >= limit:
            return False
        self._counts[user_id] = count + 1
        return True


class DatabaseCounts:
    """Counts in the `request_count` table, where every worker's requests add up."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._window = -1

    async def hit(self, user_id: UUID, window_start: int, limit: int) -> bool:
        """Count one request; False (nothing counted) once the window holds `limit`."""
        if window_start != self._window:
            # Each process drops the finished windows once per window.
            self._window = window_start
            await RequestCount.forget_before(window_start)
        return await RequestCount.hit(self._database, user_id, window_start, limit)


class RateLimiter:
    """Admit at most `per_minute` authenticated requests per user and minute (0: no limit)."""

    def __init__(self, database: Database, per_minute: int) -> None:
        self.per_minute = per_minute
        self._counts = DatabaseCounts(database) if database.is_postgres else MemoryCounts()

    async def admit(self, user_id: UUID) -> None:
        """Count one request of the user, or raise TooManyRequests (429) with Retry-After."""
        if not self.per_minute:
            return
        now = utcnow().timestamp()
        window_start = int(now // WINDOW_SECONDS) * WINDOW_SECONDS
        if not await self._counts.hit(user_id, window_start, self.per_minute):
            raise TooManyRequests(
                f"More than {self.per_minute} requests in a minute.",
                code=ErrorCode.RATE_LIMITED,
                retry_after=math.ceil(window_start + WINDOW_SECONDS - now),
                data={"limit": self.per_minute},
            )
