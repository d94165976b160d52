"""Chat sessions and their messages."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

from models.enums import MessageRole, MessageStatus, SessionStatus

if TYPE_CHECKING:
    from models.runs import Run
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


class Message(Model):
    """One message; `seq` is gapless per session and orders the history."""

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    session: fields.ForeignKeyRelation[ChatSession] = fields.ForeignKeyField(
        "models.ChatSession", related_name="messages", on_delete=fields.CASCADE
    )
    seq = fields.IntField()
    role = fields.CharEnumField(MessageRole, max_length=16)
    content = fields.TextField()
    status = fields.CharEnumField(MessageStatus, max_length=16, default=MessageStatus.COMPLETE)
    tool_calls: fields.JSONField[list[dict[str, Any]] | None] = fields.JSONField(null=True)
    tool_call_id = fields.CharField(max_length=64, null=True)
    run: fields.ForeignKeyNullableRelation[Run] = fields.ForeignKeyField(
        "models.Run", related_name="messages", null=True, on_delete=fields.SET_NULL
    )
    client_message_id = fields.CharField(max_length=128, null=True)
    metadata: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "message"
        unique_together = (("session_id", "seq"), ("session_id", "client_message_id"))
        # A run's messages are looked up on every step, and deleting a run sets
        # their run_id to NULL: without this index both scan the whole table.
        indexes = (Index(fields=("run_id",), name="idx_message_run"),)

    def __str__(self) -> str:
        return f"{self.role}#{self.seq}"
