"""Readiness: is the database reachable and its schema at the migration head?"""

from __future__ import annotations

from dataclasses import dataclass

from tortoise import connections
from tortoise.exceptions import OperationalError

from project.db import APP_LABEL
from project.migrations import migration_files


@dataclass(frozen=True)
class Readiness:
    """The outcome of one readiness probe."""

    ready: bool
    code: str
    detail: str
    pending: tuple[str, ...] = ()


async def applied_migrations() -> set[str]:
    """Return the migration files recorded in Aerich's table (empty if none)."""
    conn = connections.get("default")
    try:
        rows = await conn.execute_query_dict(
            "SELECT version FROM aerich WHERE app = $1"
            if conn.capabilities.dialect == "postgres"
            else "SELECT version FROM aerich WHERE app = ?",
            [APP_LABEL],
        )
    except OperationalError:
        return set()  # no aerich table yet: nothing applied
    return {row["version"] for row in rows}


async def check_readiness() -> Readiness:
    """Probe the database; never raises for an unreachable or unmigrated one."""
    try:
        applied = await applied_migrations()
    except Exception as exc:  # any driver error means "not reachable"
        return Readiness(False, "database_unavailable", f"Database unreachable: {exc}.")
    pending = tuple(name for name in migration_files() if name not in applied)
    if pending:
        return Readiness(
            False,
            "not_ready",
            f"Database schema is behind: {len(pending)} migration(s) pending. "
            "Run `make migrate` (or `python -m project migrate`).",
            pending,
        )
    return Readiness(True, "ready", "ok")
