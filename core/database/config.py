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
# The client waits this much longer than the server's statement timeout, so that the
# server's own cancellation (a clean error, the connection still usable) comes first.
CLIENT_TIMEOUT_MARGIN_SECONDS = 1.0
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
        _bound_statements(credentials, settings.db_statement_timeout_seconds)
    return config


def _bound_statements(credentials: dict[str, Any], seconds: float) -> None:
    """Bound every statement on PostgreSQL, on the server and on the client.

    The server cancels a statement past `statement_timeout`. A connection that
    stalls (a network cut with no reset) never answers at all, so the client
    also gives up, a little later than the server would: asyncpg's
    `command_timeout` raises TimeoutError, which the API answers with a 503.
    """
    if not seconds:
        return
    server_settings = dict(credentials.get("server_settings") or {})
    server_settings.setdefault("statement_timeout", str(round(seconds * 1000)))
    credentials["server_settings"] = server_settings
    credentials.setdefault("command_timeout", seconds + CLIENT_TIMEOUT_MARGIN_SECONDS)


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
