"""Hand-written read queries for the hottest paths, on either dialect.

Tortoise builds every query through pypika on each call, which on a request
that reads one row costs several times the query itself. The few reads that
every request makes are written once here, with PostgreSQL's `$n`
placeholders; SQLite gets the same numbered parameters as `?n`.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any
from uuid import UUID

from tortoise import connections

_PLACEHOLDER = re.compile(r"\$(\d+)")


@lru_cache(maxsize=64)
def _for_sqlite(sql: str) -> str:
    return _PLACEHOLDER.sub(r"?\1", sql)


def is_postgres() -> bool:
    """Whether the default connection is PostgreSQL (else SQLite)."""
    return bool(connections.get("default").capabilities.dialect == "postgres")


async def fetch_rows(sql: str, *params: Any) -> list[dict[str, Any]]:
    """Run one read query (`$1`, `$2`, … placeholders) and return its rows as dicts."""
    conn = connections.get("default")
    if conn.capabilities.dialect == "postgres":
        return list(await conn.execute_query_dict(sql, list(params)))
    # SQLite stores UUIDs as text.
    values = [str(value) if isinstance(value, UUID) else value for value in params]
    return list(await conn.execute_query_dict(_for_sqlite(sql), values))
