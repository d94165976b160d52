"""Human-in-the-loop approvals of tool calls."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

from models.enums import ApprovalStatus

if TYPE_CHECKING:
    from models.runs import Run
    from models.sessions import ChatSession
    from models.tool_calls import ToolCall
    from models.users import User


class Approval(Model):
    """A pending or decided request to let one tool call run."""

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    session: fields.ForeignKeyRelation[ChatSession] = fields.ForeignKeyField(
        "models.ChatSession", related_name="approvals", on_delete=fields.CASCADE
    )
    run: fields.ForeignKeyRelation[Run] = fields.ForeignKeyField(
        "models.Run", related_name="approvals", on_delete=fields.CASCADE
    )
    tool_call: fields.OneToOneRelation[ToolCall] = fields.OneToOneField(
        "models.ToolCall", related_name="approval", on_delete=fields.CASCADE
    )
    tool = fields.CharField(max_length=64)
    arguments: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    edited_arguments: fields.JSONField[dict[str, Any] | None] = fields.JSONField(null=True)
    status = fields.CharEnumField(ApprovalStatus, max_length=16, default=ApprovalStatus.PENDING)
    comment = fields.TextField(null=True)
    decided_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="decisions", null=True, on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    decided_at = fields.DatetimeField(null=True)
    expires_at = fields.DatetimeField()

    class Meta:
        table = "approval"
        indexes = (
            Index(fields=("status", "expires_at"), name="idx_approval_status_expiry"),
            # Every run step asks for the run's pending approval; deleting a session
            # or a run cascades here.
            Index(fields=("run_id", "status"), name="idx_approval_run_status"),
            Index(fields=("session_id",), name="idx_approval_session"),
        )

    def __str__(self) -> str:
        return f"approval {self.id} ({self.status})"

    @classmethod
    async def pending_for_call(cls, tool_call_id: UUID) -> Approval | None:
        """The pending approval of a tool call, if it still waits."""
        return await cls.get_or_none(tool_call_id=tool_call_id, status=ApprovalStatus.PENDING)

    @classmethod
    async def pending_for_run(cls, run_id: UUID) -> Approval | None:
        """A pending approval of the run, if any."""
        return await cls.filter(run_id=run_id, status=ApprovalStatus.PENDING).first()

    @classmethod
    async def settle(
        cls, approval_id: UUID, status: ApprovalStatus, now: datetime, **changes: Any
    ) -> bool:
        """Decide (or expire) a pending approval; False if it was no longer pending."""
        won = await cls.filter(id=approval_id, status=ApprovalStatus.PENDING).update(
            status=status, decided_at=now, **changes
        )
        return bool(won)

    @classmethod
    async def cancel_pending(cls, run_id: UUID, now: datetime) -> None:
        """Cancel the pending approvals of a run that ended (nobody decides them any more)."""
        await cls.filter(run_id=run_id, status=ApprovalStatus.PENDING).update(
            status=ApprovalStatus.CANCELLED, decided_at=now
        )

    @classmethod
    async def due_ids(cls, now: datetime) -> list[UUID]:
        """Pending approvals past their `expires_at`."""
        due = await cls.filter(status=ApprovalStatus.PENDING, expires_at__lte=now).values_list(
            "id", flat=True
        )
        return [UUID(str(approval_id)) for approval_id in due]
