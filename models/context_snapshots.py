"""The agent context as it was after each message: what a fork starts from.

Every context write also stores the data under the session's message count
at that moment (`after_seq`), one row per count: writes between the same two
messages replace each other, so a session keeps at most one row per message.
The context right after message N is then the newest row with
`after_seq <= N`, or, when there is none, the session's initial context
(empty for a new session; a fork's own first row holds what it started with).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from tortoise import fields
from tortoise.models import Model

from core.database import Database, Statement
from core.database.values import json_value

if TYPE_CHECKING:
    from models.sessions import ChatSession


class ContextSnapshot(Model):
    """A session's agent context as it stood after message `after_seq`."""

    id = fields.BigIntField(primary_key=True)
    session: fields.ForeignKeyRelation[ChatSession] = fields.ForeignKeyField(
        "models.ChatSession", related_name="context_snapshots", on_delete=fields.CASCADE
    )
    after_seq = fields.IntField()
    data: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "context_snapshot"
        unique_together = (("session_id", "after_seq"),)

    def __str__(self) -> str:
        return f"context after #{self.after_seq}"

    @classmethod
    async def record(
        cls, database: Database, session_id: UUID, data: dict[str, Any], now: datetime
    ) -> None:
        """Store `data` as the context after the session's newest message (caller's transaction)."""
        await database.execute(_RECORD, session_id, _DATA_FIELD.to_db_value(data, cls), now)

    @classmethod
    async def start(cls, session_id: UUID, after_seq: int, data: dict[str, Any]) -> None:
        """Store the context a fork starts with, at its fork point."""
        await cls.create(session_id=session_id, after_seq=after_seq, data=data)

    @classmethod
    async def as_of(cls, database: Database, session_id: UUID, seq: int) -> dict[str, Any] | None:
        """The newest data stored for the session after a message up to `seq`, if any."""
        rows = await database.execute(_AS_OF, session_id, seq)
        return json_value(rows[0]["data"]) if rows else None


_DATA_FIELD = ContextSnapshot._meta.fields_map["data"]
# The count is read in the statement itself, so the row names the messages this
# write followed even when an append commits meanwhile.
_RECORD = Statement(
    lambda: (
        "INSERT INTO context_snapshot (session_id, after_seq, data, updated_at) VALUES "
        "($1, (SELECT message_count FROM chat_session WHERE id = $1), $2, $3) "
        "ON CONFLICT (session_id, after_seq) DO UPDATE SET data = excluded.data, "
        "updated_at = excluded.updated_at"
    )
)
_AS_OF = Statement(
    lambda: (
        "SELECT data FROM context_snapshot WHERE session_id = $1 AND after_seq <= $2 "
        "ORDER BY after_seq DESC LIMIT 1"
    )
)
