"""Tool calls: their status makes a tool's side effect run at most once.

A call of a client-executed tool has an `expires_at`: it waits for the
client's result (`awaiting_client`) until then, and the first result wins.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from uuid import UUID

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

from core.database import Database, Statement, literal, literals
from models.columns import ModelColumns
from models.enums import TERMINAL_EVENT_TYPES, TERMINAL_RUN_STATUSES, MessageRole, ToolCallStatus
from models.runs import Run

IN_DOUBT_MESSAGE = (
    "The tool call started but its result was never recorded (the server stopped during it); "
    "it may or may not have taken effect and was not run again."
)


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
    # Client-executed tools only: when the wait for the client's result ends.
    expires_at = fields.DatetimeField(null=True)

    class Meta:
        table = "tool_call"
        unique_together = (("run_id", "call_id"),)
        # The sweeper looks for client calls whose wait is over.
        indexes = (Index(fields=("status", "expires_at"), name="idx_tool_call_status_expiry"),)

    def __str__(self) -> str:
        return f"{self.tool}({self.call_id})"

    @classmethod
    async def first_unanswered(cls, database: Database, run_id: UUID) -> ToolCall | None:
        """The run's first call whose outcome the model has not been given (no tool message)."""
        rows = await database.fetch_committed(_FIRST_UNANSWERED, run_id)
        return TOOL_CALL_COLUMNS.instance(database, rows[0]) if rows else None

    @classmethod
    async def unanswered(cls, database: Database, run_id: UUID) -> list[ToolCall]:
        """The run's calls with no tool message, in the order asked (sees the caller's writes)."""
        rows = await database.execute(_UNANSWERED, run_id)
        return [TOOL_CALL_COLUMNS.instance(database, row) for row in rows]

    @classmethod
    async def ended_runs_with_unanswered(cls, database: Database, limit: int) -> list[UUID]:
        """Up to `limit` runs whose end is logged, yet a call of theirs has no tool message."""
        # Every end answers its run's calls in its own transaction: such runs come
        # from before that was so (or from a restored backup of that time).
        rows = await database.fetch_committed(_ENDED_UNANSWERED, limit)
        return [UUID(str(row["run_id"])) for row in rows]

    @classmethod
    async def claim(cls, call_id: UUID, now: datetime) -> bool:
        """Move an approved call to `started`; only the winner may run the tool."""
        claimed = await cls.filter(id=call_id, status=ToolCallStatus.APPROVED).update(
            status=ToolCallStatus.STARTED, started_at=now, updated_at=now
        )
        return bool(claimed)

    @classmethod
    async def record_outcome(
        cls, call_id: UUID, ok: bool, result: Any, error: str | None, now: datetime
    ) -> None:
        """Store what a started call returned."""
        await cls.filter(id=call_id).update(
            status=ToolCallStatus.SUCCEEDED if ok else ToolCallStatus.FAILED,
            result=result,
            error=error,
            finished_at=now,
            updated_at=now,
        )

    @classmethod
    async def decide(
        cls, call_id: UUID, status: ToolCallStatus, now: datetime, **changes: Any
    ) -> bool:
        """Record a human decision (or its expiry) on a proposed call."""
        decided = await cls.filter(id=call_id, status=ToolCallStatus.PROPOSED).update(
            status=status, updated_at=now, **changes
        )
        return bool(decided)

    @classmethod
    async def reject_unstarted(cls, run_id: UUID, reason: str, now: datetime) -> None:
        """Reject every call of the run that waits for a decision, the client or to be run."""
        unstarted = (
            ToolCallStatus.PROPOSED,
            ToolCallStatus.AWAITING_CLIENT,
            ToolCallStatus.APPROVED,
        )
        await cls.filter(run_id=run_id, status__in=unstarted).update(
            status=ToolCallStatus.REJECTED, error=reason, updated_at=now
        )

    @classmethod
    async def of_client(cls, run_id: UUID, call_id: str) -> ToolCall | None:
        """The run's call of a client-executed tool with the model's call id, if any."""
        return await cls.get_or_none(run_id=run_id, call_id=call_id, expires_at__not_isnull=True)

    @classmethod
    async def awaiting_client(cls, run_id: UUID) -> ToolCall | None:
        """A call of the run that waits for the client's result, if any."""
        return await cls.filter(run_id=run_id, status=ToolCallStatus.AWAITING_CLIENT).first()

    @classmethod
    async def answer(cls, call_id: UUID, result: Any, now: datetime) -> bool:
        """Record the client's result of a waiting call; False if it no longer waits."""
        answered = await cls.filter(id=call_id, status=ToolCallStatus.AWAITING_CLIENT).update(
            status=ToolCallStatus.SUCCEEDED, result=result, finished_at=now, updated_at=now
        )
        return bool(answered)

    @classmethod
    async def give_up_on_client(cls, call_id: UUID, error: str, now: datetime) -> bool:
        """End a client call's wait with an error (it expired); False if it no longer waits."""
        expired = await cls.filter(id=call_id, status=ToolCallStatus.AWAITING_CLIENT).update(
            status=ToolCallStatus.FAILED, error=error, finished_at=now, updated_at=now
        )
        return bool(expired)

    @classmethod
    async def client_calls_due(cls, now: datetime) -> list[UUID]:
        """Client calls still waiting past their `expires_at`."""
        due = await cls.filter(
            status=ToolCallStatus.AWAITING_CLIENT, expires_at__lte=now
        ).values_list("id", flat=True)
        return [UUID(str(call_id)) for call_id in due]

    @classmethod
    async def mark_in_doubt(
        cls, now: datetime, *, run_id: UUID | None = None, call_id: UUID | None = None
    ) -> None:
        """Started calls with no recorded result (of a run, or one call) are in doubt."""
        query = cls.filter(status=ToolCallStatus.STARTED)
        query = query.filter(run_id=run_id) if run_id is not None else query.filter(id=call_id)
        await query.update(
            status=ToolCallStatus.IN_DOUBT, error=IN_DOUBT_MESSAGE, finished_at=now, updated_at=now
        )


TOOL_CALL_COLUMNS = ModelColumns(ToolCall)
# A call is answered once its run holds its tool message.
_NO_TOOL_MESSAGE = (
    "NOT EXISTS (SELECT 1 FROM message m WHERE m.run_id = c.run_id "
    f"AND m.role = {literal(MessageRole.TOOL)} AND m.tool_call_id = c.call_id)"
)
_FIRST_UNANSWERED = Statement(
    lambda: (
        f"SELECT {TOOL_CALL_COLUMNS.select(alias='c')} FROM tool_call c "
        f"WHERE c.run_id = $1 AND {_NO_TOOL_MESSAGE} ORDER BY c.created_at, c.call_id LIMIT 1"
    )
)
_UNANSWERED = Statement(
    lambda: (
        f"SELECT {TOOL_CALL_COLUMNS.select(alias='c')} FROM tool_call c "
        f"WHERE c.run_id = $1 AND {_NO_TOOL_MESSAGE} ORDER BY c.created_at, c.call_id"
    )
)
_ENDED_UNANSWERED = Statement(
    lambda: (
        "SELECT DISTINCT c.run_id FROM tool_call c JOIN run r ON r.id = c.run_id "
        f"WHERE r.status IN ({literals(TERMINAL_RUN_STATUSES)}) AND {_NO_TOOL_MESSAGE} "
        "AND EXISTS (SELECT 1 FROM run_event e WHERE e.run_id = c.run_id "
        f"AND e.type IN ({literals(TERMINAL_EVENT_TYPES)})) LIMIT $1"
    )
)
