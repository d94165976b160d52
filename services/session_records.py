"""A session as a request reads it: a plain record, not an ORM model."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from models import SessionStatus
from services.raw_sql import datetime_value, json_value

# Every session route loads its session first. Building a Tortoise model from
# that row (per-field conversion, timestamps through a pure-Python ISO parser)
# was a fifth of the CPU of a GET of a session (py-spy); a record built from
# the row costs a tenth of that and carries everything a route needs.
SESSION_COLUMNS = (
    "id, owner_id, title, agent, status, metadata, message_count, created_at, updated_at, "
    "last_message_at"
)


class SessionRef(Protocol):
    """What the session operations need of a session: a record or a model."""

    @property
    def id(self) -> UUID:
        """The session's id."""

    @property
    def status(self) -> SessionStatus:
        """Active or archived."""

    @property
    def agent(self) -> str:
        """The agent that answers in this session."""


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """One chat_session row, typed."""

    id: UUID
    owner_id: UUID
    title: str
    agent: str
    status: SessionStatus
    metadata: dict[str, Any]
    message_count: int
    created_at: datetime
    updated_at: datetime
    last_message_at: datetime | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> SessionRecord:
        """Build from a row of SESSION_COLUMNS as either driver returns it."""
        created_at, updated_at = (
            datetime_value(row["created_at"]),
            datetime_value(row["updated_at"]),
        )
        assert created_at is not None and updated_at is not None  # NOT NULL columns
        return cls(
            id=UUID(str(row["id"])),
            owner_id=UUID(str(row["owner_id"])),
            title=row["title"],
            agent=row["agent"],
            status=SessionStatus(row["status"]),
            metadata=json_value(row["metadata"]) or {},
            message_count=int(row["message_count"]),
            created_at=_not_null(datetime_value(row["created_at"])),
            updated_at=_not_null(datetime_value(row["updated_at"])),
            last_message_at=datetime_value(row["last_message_at"]),
        )


def _not_null(value: datetime | None) -> datetime:
    """A NOT NULL column's value, typed as such."""
    if value is None:
        raise ValueError("a NOT NULL timestamp column read as NULL")
    return value
