"""The schema's state: the migration files, those applied, and readiness.

Is the database reachable and its schema at the migration head? The API's
`/readyz` and the management commands ask here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aerich.models import Aerich
from asyncpg.exceptions import UndefinedColumnError, UndefinedTableError
from tortoise.exceptions import OperationalError

from core.database.config import APP_LABEL

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
# How SQLite says a table or column is missing (PostgreSQL has error classes for it).
_SQLITE_MISSING = ("no such table", "no such column")


def version_dir(location: Path = MIGRATIONS_DIR) -> Path:
    """Return the folder holding the app's migration files."""
    return location / APP_LABEL


def migration_files(location: Path = MIGRATIONS_DIR) -> list[str]:
    """Return the migration file names in order."""
    folder = version_dir(location)
    if not folder.exists():
        return []
    names = [p.name for p in folder.glob("*.py") if p.name.split("_", 1)[0].isdigit()]
    return sorted(names, key=lambda name: int(name.split("_", 1)[0]))


@dataclass(frozen=True)
class Readiness:
    """The outcome of one readiness probe."""

    ready: bool
    code: str
    detail: str
    pending: tuple[str, ...] = ()


async def applied_migrations() -> set[str]:
    """Return the migration files recorded in Aerich's table (empty if none)."""
    try:
        versions = await Aerich.filter(app=APP_LABEL).values_list("version", flat=True)
    except OperationalError:
        return set()  # no aerich table yet: nothing applied
    return {str(version) for version in versions}


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


def schema_missing(exc: BaseException) -> bool:
    """Whether `exc` says a table or column does not exist: migrations were not applied."""
    if not isinstance(exc, OperationalError):
        return False
    if isinstance(exc.__cause__, UndefinedTableError | UndefinedColumnError):
        return True
    return str(exc).startswith(_SQLITE_MISSING)
