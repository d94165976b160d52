"""Database wiring: the Tortoise config built from Settings, and SQLite tuning.

Every process (server, shell, admin script, aerich) goes through
`tortoise_config`, so they all open the database the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tortoise.backends.base.config_generator import expand_db_url
from tortoise.backends.sqlite.client import SqliteTransactionWrapper

from project.settings import Settings

MODEL_MODULES = ["models", "aerich.models"]
APP_LABEL = "models"


def connection_config(settings: Settings) -> dict[str, Any]:
    """Return the Tortoise connection dict for the configured database."""
    config = expand_db_url(settings.database_url)
    credentials: dict[str, Any] = config["credentials"]
    if settings.is_sqlite:
        credentials.setdefault("journal_mode", "WAL")
        credentials.setdefault("busy_timeout", settings.sqlite_busy_timeout_ms)
        credentials.setdefault("foreign_keys", "ON")
        _ensure_parent_dir(str(credentials["file_path"]))
    else:
        config["engine"] = "project.pg_backend"
        credentials.setdefault("minsize", settings.db_pool_min)
        credentials.setdefault("maxsize", settings.db_pool_max)
        credentials["acquire_timeout"] = settings.db_acquire_timeout_seconds
    return config


def tortoise_config(settings: Settings) -> dict[str, Any]:
    """Return the full Tortoise ORM config (also what Aerich reads)."""
    install_sqlite_begin_immediate()
    return {
        "connections": {"default": connection_config(settings)},
        "apps": {
            APP_LABEL: {"models": list(MODEL_MODULES), "default_connection": "default"},
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def _ensure_parent_dir(file_path: str) -> None:
    """Create the folder of a SQLite file so a fresh checkout just runs."""
    if file_path != ":memory:":
        Path(file_path).parent.mkdir(parents=True, exist_ok=True)


async def _begin_immediate(self: SqliteTransactionWrapper) -> None:
    """Start SQLite transactions with BEGIN IMMEDIATE.

    A deferred BEGIN that reads and later writes fails with "database is
    locked" when another process writes meanwhile (SQLite skips the busy
    handler on lock upgrade); taking the write lock up front waits instead.
    Tortoise's own begin commits first; with its autocommit connection there
    is nothing to commit, so that round trip to the connection's thread is
    only made when a transaction really is open.
    """
    if self._connection.in_transaction:
        await self._connection.commit()
    await self._connection.execute("BEGIN IMMEDIATE")


def install_sqlite_begin_immediate() -> None:
    """Patch Tortoise's SQLite transactions to BEGIN IMMEDIATE (idempotent).

    This replaces a private hook of tortoise-orm; pyproject pins the version.
    """
    SqliteTransactionWrapper.begin = _begin_immediate  # type: ignore[method-assign]
