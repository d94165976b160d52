"""Counters that allocate gapless sequence numbers: a session's messages, a run's events."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime
from uuid import UUID

from core.database import Database, Statement


async def bump_counters(
    database: Database, statement: Statement, increments: Mapping[UUID, int], now: datetime
) -> dict[UUID, int]:
    """Add each row's increment to its counter; return the counters after the bump.

    `statement` takes ($1 increment, $2 ids, $3 now) and returns `id, count`.
    Rows with the same increment share one statement, and RETURNING gives
    the new counts, so nothing is read back. Its UPDATE also locks the rows
    (PostgreSQL), so two transactions never allocate the same numbers.
    """
    by_increment: dict[int, list[UUID]] = defaultdict(list)
    for row_id, increment in increments.items():
        by_increment[increment].append(row_id)
    counts: dict[UUID, int] = {}
    for increment, ids in by_increment.items():
        rows = await database.execute(statement, increment, ids, now)
        counts.update({UUID(str(row["id"])): int(row["count"]) for row in rows})
    return counts
