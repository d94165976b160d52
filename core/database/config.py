"""The Tortoise config built from Settings.

Every process (server, shell, admin script, aerich) goes through
`tortoise_config`, so they all open the database the same way: SQLite in
WAL mode with transactions that take the write lock up front
(`core/database/sqlite.py`), PostgreSQL through a pool whose waits are
bounded (`core/database/postgres.py`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tortoise.backends.base.config_generator import expand_db_url

from core.settings import Settings

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
        config["engine"] = "core.database.sqlite"
        _ensure_parent_dir(str(credentials["file_path"]))
    else:
        config["engine"] = "core.database.postgres"
        credentials.setdefault("minsize", settings.db_pool_min)
        credentials.setdefault("maxsize", settings.db_pool_max)
        credentials["acquire_timeout"] = settings.db_acquire_timeout_seconds
    return config


def tortoise_config(settings: Settings) -> dict[str, Any]:
    """Return the full Tortoise ORM config (also what Aerich reads)."""
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
