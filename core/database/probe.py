"""Open one connection to the configured database and close it: can it be opened at all?

The management commands ask this before Tortoise or Aerich touch the database,
because those report a database that cannot be opened in ways that mislead:
a traceback from Aerich, "not migrated" for a SQLite path that is a folder,
or a hang when Aerich goes on after SQLite failed to open the file.
"""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any
from urllib.parse import urlsplit

import asyncpg
from tortoise.exceptions import DBConnectionError

from core.database.config import connection_config
from core.settings import Settings

# A server that does not answer (a dropped packet, not a refusal) fails after this long.
CONNECT_TIMEOUT_SECONDS = 10.0


class DatabaseUnreachable(Exception):
    """The database cannot be opened; the message is one line saying where and why."""


async def probe_database(settings: Settings) -> None:
    """Open and close one connection, or raise DatabaseUnreachable."""
    try:
        credentials: dict[str, Any] = connection_config(settings)["credentials"]
        if settings.is_sqlite:
            await asyncio.to_thread(_open_sqlite, str(credentials["file_path"]))
        else:
            await _open_postgres(credentials)
    except UNREACHABLE_ERRORS as exc:
        raise DatabaseUnreachable(f"{where(settings)}: {reason(exc)}") from exc


def _open_sqlite(file_path: str) -> None:
    sqlite3.connect(file_path).close()


async def _open_postgres(credentials: dict[str, Any]) -> None:
    connection = await asyncpg.connect(
        host=credentials["host"],
        port=credentials["port"],
        user=credentials["user"],
        password=credentials["password"],
        database=credentials["database"],
        ssl=credentials.get("ssl"),
        timeout=CONNECT_TIMEOUT_SECONDS,
    )
    await connection.close()


# What opening a database raises: an address that refuses or does not resolve, and a
# folder that cannot be created (OSError, TimeoutError included); a server that
# refuses the role, the password or the database name (asyncpg, or Tortoise wrapping
# it); a SQLite file that cannot be opened.
UNREACHABLE_ERRORS = (
    OSError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    DBConnectionError,
    sqlite3.Error,
)


def reason(exc: BaseException) -> str:
    """The driver's own words on one line (Tortoise's wrapper says less than its cause)."""
    cause = exc.__cause__
    if isinstance(exc, DBConnectionError) and cause:
        text = str(cause)
    elif isinstance(exc, OSError) and exc.filename:  # e.g. the SQLite folder cannot be made
        text = f"{exc.strerror}: {exc.filename}"
    else:
        text = str(exc)
    return " ".join(text.split()) or type(exc).__name__


def where(settings: Settings) -> str:
    """The database URL without its password, to say which database failed."""
    if settings.is_sqlite:
        return settings.database_url
    parts = urlsplit(settings.database_url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    user = f"{parts.username}@" if parts.username else ""
    return f"{parts.scheme}://{user}{host}{port}{parts.path}"
