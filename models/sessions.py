"""Chat sessions: the conversations messages, context and runs belong to."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

from core.database import Database, Statement
from models.columns import ModelColumns
from models.counters import bump_counters
from models.enums import SessionStatus

if TYPE_CHECKING:
    from models.users import User


class ChatSession(Model):
    """One conversation; `message_count` is also the last allocated message seq."""

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    owner: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="sessions", on_delete=fields.CASCADE
    )
    title = fields.CharField(max_length=200, default="")
    agent = fields.CharField(max_length=64, default="default")
    status = fields.CharEnumField(SessionStatus, max_length=16, default=SessionStatus.ACTIVE)
    metadata: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    message_count = fields.IntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    last_message_at = fields.DatetimeField(null=True)

    class Meta:
        table = "chat_session"
        indexes = (
            Index(fields=("owner_id", "updated_at", "id"), name="idx_session_owner_keyset"),
            Index(fields=("updated_at", "id"), name="idx_session_keyset"),
        )

    def __str__(self) -> str:
        return self.title or str(self.id)

    @classmethod
    async def visible(
        cls, database: Database, session_id: UUID, owner_id: UUID | None
    ) -> ChatSession | None:
        """The session, if it exists and (unless `owner_id` is None) belongs to that owner."""
        if owner_id is None:
            rows = await database.fetch_committed(_BY_ID, session_id)
        else:
            rows = await database.fetch_committed(_BY_ID_AND_OWNER, session_id, owner_id)
        return SESSION_COLUMNS.instance(database, rows[0]) if rows else None

    @classmethod
    async def allocate_seqs(
        cls, database: Database, increments: Mapping[UUID, int], now: datetime
    ) -> dict[UUID, int]:
        """Reserve message seqs: each session's count after adding its increment."""
        return await bump_counters(database, _BUMP_MESSAGE_COUNT, increments, now)


SESSION_COLUMNS = ModelColumns(ChatSession)
_BY_ID = Statement(lambda: f"SELECT {SESSION_COLUMNS.select()} FROM chat_session WHERE id = $1")
_BY_ID_AND_OWNER = Statement(
    lambda: f"SELECT {SESSION_COLUMNS.select()} FROM chat_session WHERE id = $1 AND owner_id = $2"
)
_BUMP_MESSAGE_COUNT = Statement(
    lambda: (
        "UPDATE chat_session SET message_count = message_count + $1, updated_at = $3, "
        "last_message_at = $3 WHERE id = ANY($2) RETURNING id, message_count AS count"
    )
)
