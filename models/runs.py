"""Agent runs, their durable event log and their tool calls."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

from models.enums import RunStatus, ToolCallStatus

if TYPE_CHECKING:
    from models.sessions import ChatSession


class Run(Model):
    """One agent turn for a session.

    `active_session_id` is the database-enforced "one active run per session"
    slot: it equals `session_id` while the run holds the session and is NULL
    otherwise, and it is unique (NULLs never collide on SQLite or PostgreSQL).
    """

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    session: fields.ForeignKeyRelation[ChatSession] = fields.ForeignKeyField(
        "models.ChatSession", related_name="runs", on_delete=fields.CASCADE
    )
    status = fields.CharEnumField(RunStatus, max_length=20, default=RunStatus.QUEUED)
    active_session_id = fields.UUIDField(null=True, unique=True)
    agent = fields.CharField(max_length=64, default="default")
    input_message_id = fields.UUIDField(null=True)
    # Last allocated RunEvent.seq: bumped with F() in the event's transaction.
    event_count = fields.IntField(default=0)
    lease_owner = fields.CharField(max_length=64, null=True)
    lease_expires_at = fields.DatetimeField(null=True)
    error = fields.TextField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    started_at = fields.DatetimeField(null=True)
    finished_at = fields.DatetimeField(null=True)

    class Meta:
        table = "run"
        indexes = (
            Index(fields=("status", "lease_expires_at"), name="idx_run_status_lease"),
            Index(fields=("session_id", "created_at"), name="idx_run_session_created"),
            # The sweeper looks for recently ended runs (services/sweeper.py).
            Index(fields=("status", "finished_at"), name="idx_run_status_finished"),
        )

    def __str__(self) -> str:
        return f"run {self.id} ({self.status})"


class RunEvent(Model):
    """One SSE event of a run; `seq` is its SSE id, strictly increasing from 1."""

    id = fields.BigIntField(primary_key=True)
    run: fields.ForeignKeyRelation[Run] = fields.ForeignKeyField(
        "models.Run", related_name="events", on_delete=fields.CASCADE
    )
    seq = fields.IntField()
    type = fields.CharField(max_length=32)
    data: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "run_event"
        unique_together = (("run_id", "seq"),)

    def __str__(self) -> str:
        return f"{self.type}#{self.seq}"


class ToolCall(Model):
    """A tool invocation; its status makes the side effect run at most once."""

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    run: fields.ForeignKeyRelation[Run] = fields.ForeignKeyField(
        "models.Run", related_name="tool_calls", on_delete=fields.CASCADE
    )
    call_id = fields.CharField(max_length=64)
    tool = fields.CharField(max_length=64)
    arguments: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    status = fields.CharEnumField(ToolCallStatus, max_length=16, default=ToolCallStatus.PROPOSED)
    result: fields.JSONField[Any] = fields.JSONField(null=True)
    error = fields.TextField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    started_at = fields.DatetimeField(null=True)
    finished_at = fields.DatetimeField(null=True)

    class Meta:
        table = "tool_call"
        unique_together = (("run_id", "call_id"),)

    def __str__(self) -> str:
        return f"{self.tool}({self.call_id})"
