"""Values as the drivers hand them over and take them, on either dialect.

asyncpg returns UUIDs and datetimes as Python objects and JSON as text;
SQLite returns text for all three. Parameters go the other way: SQLite
stores UUIDs and timestamps as text, exactly as Tortoise writes them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

_EMPTY_OBJECT = ("{}", b"{}")


def json_value(value: Any) -> Any:
    """A JSON column as read: text (SQLite, asyncpg's default) or already decoded."""
    if not isinstance(value, str | bytes):
        return value
    # Most rows store an empty object (no metadata): spare the parser for it.
    return {} if value in _EMPTY_OBJECT else json.loads(value)


def datetime_value(value: Any) -> datetime | None:
    """A timestamp column as read: ISO text (SQLite) or already a datetime (PostgreSQL)."""
    if value is None or isinstance(value, datetime):
        return value
    parsed = datetime.fromisoformat(str(value))  # in C: the ORM's pure-Python parser is slower
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def uuid_value(value: Any) -> UUID | None:
    """A UUID column as read: text (SQLite) or already a UUID (PostgreSQL)."""
    if value is None or isinstance(value, UUID):
        return value
    return UUID(str(value))


def sqlite_parameter(value: Any) -> Any:
    """A parameter as SQLite stores it: UUIDs and timestamps are text (as Tortoise writes them).

    A list (for `col = ANY($n)`) becomes a JSON array of such values.
    """
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, list | tuple | set | frozenset):
        return json.dumps([sqlite_parameter(item) for item in value])
    if isinstance(value, datetime):
        # Aware timestamps are stored as UTC text: text comparisons must order them.
        return (value.astimezone(UTC) if value.tzinfo else value).isoformat(sep=" ")
    return value
