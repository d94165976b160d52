"""HITLManager: human approval of tool calls, decided once, durable across restarts.

A decision is a conditional update on `status = pending`; the row count tells
the winner of two concurrent decisions. The decision is recorded on the tool
call in the same transaction, so a run resumed by any process (or after a
restart) reads the outcome from the database. Waking the run in this process
is only the fast path; the sweeper resumes decided runs as well.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any
from uuid import UUID

from tortoise.transactions import in_transaction

from agent import InvalidToolArguments, ToolRegistry
from core.clock import utcnow
from core.errors import Conflict, ErrorCode, NotFound, UnprocessableEntity
from models import Approval, ApprovalStatus, EventType, ToolCall, ToolCallStatus
from services.auth import Caller
from services.common.pagination import Page, newest_first
from services.events import EventLog
from services.events.payloads import approval_decided_data

EXPIRED_MESSAGE = "The approval expired before anyone decided."


class Decision(StrEnum):
    """What a reviewer may answer."""

    APPROVE = "approve"
    REJECT = "reject"


class HITLManager:
    """Create, list and decide approvals; expire the overdue ones."""

    def __init__(
        self, events: EventLog, registry: ToolRegistry, wake_run: Callable[[UUID], None]
    ) -> None:
        self._events = events
        self._registry = registry
        self._wake_run = wake_run

    async def get(self, caller: Caller, approval_id: UUID, *, write: bool = False) -> Approval:
        """Load one approval visible to the caller, or 404."""
        live = Approval.filter(session__deleted_at__isnull=True)  # hidden with a deleted session
        approval = await caller.scope(live, "session__owner_id", write=write).get_or_none(
            id=approval_id
        )
        if approval is None:
            raise NotFound("Approval not found.", code=ErrorCode.APPROVAL_NOT_FOUND)
        return approval

    async def list(
        self,
        caller: Caller,
        *,
        status: ApprovalStatus | None,
        session_id: UUID | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Approval]:
        """List approvals across the caller's sessions, newest first."""
        live = Approval.filter(session__deleted_at__isnull=True)
        query = caller.scope(live, "session__owner_id", write=False)
        if status is not None:
            query = query.filter(status=status)
        if session_id is not None:
            query = query.filter(session_id=session_id)
        return await newest_first(query, "created_at", limit, cursor)

    async def decide(
        self,
        approval: Approval,
        caller: Caller,
        decision: Decision,
        arguments: dict[str, Any] | None,
        comment: str | None,
    ) -> Approval:
        """Record a decision exactly once and wake the run."""
        # A decided approval answers 409 whatever the body: arguments are checked after.
        if approval.status is not ApprovalStatus.PENDING:
            raise self._already_decided(approval)
        now = utcnow()
        if approval.expires_at <= now:
            await self.expire(approval.id)
            raise self._already_decided(await Approval.get(id=approval.id))
        if decision is Decision.APPROVE and arguments is not None:
            self._validate(approval.tool, arguments)
        approved = decision is Decision.APPROVE
        async with in_transaction():
            won = await Approval.settle(
                approval.id,
                ApprovalStatus.APPROVED if approved else ApprovalStatus.REJECTED,
                now,
                edited_arguments=arguments if approved else None,
                comment=comment,
                decided_by_id=caller.user_id,
            )
            if won:
                await self._record_on_tool_call(approval, approved, arguments, comment)
        decided = await Approval.get(id=approval.id)
        if not won:
            raise self._already_decided(decided)
        await self._announce(decided)
        return decided

    async def expire(self, approval_id: UUID) -> bool:
        """Expire one pending approval; the run resumes with a rejection."""
        now = utcnow()
        async with in_transaction():
            won = await Approval.settle(approval_id, ApprovalStatus.EXPIRED, now)
            if won:
                approval = await Approval.get(id=approval_id)
                await ToolCall.decide(
                    approval.tool_call_id,  # type: ignore[attr-defined]
                    ToolCallStatus.REJECTED,
                    now,
                    error=EXPIRED_MESSAGE,
                )
        if won:
            await self._announce(await Approval.get(id=approval_id))
        return bool(won)

    async def expire_due(self) -> int:
        """Expire every pending approval past its `expires_at` (sweeper)."""
        expired = 0
        for approval_id in await Approval.due_ids(utcnow()):
            expired += await self.expire(approval_id)
        return expired

    def _validate(self, tool: str, arguments: dict[str, Any]) -> None:
        try:
            self._registry.validate(tool, arguments)
        except InvalidToolArguments as exc:
            raise UnprocessableEntity(
                f"The edited arguments do not match the schema of {tool!r}: {exc.message}",
                code=ErrorCode.INVALID_TOOL_ARGUMENTS,
                data={
                    "errors": [
                        {"loc": ["body", "arguments"], "msg": error, "type": "tool_schema"}
                        for error in exc.errors
                    ]
                },
            ) from None

    async def _record_on_tool_call(
        self,
        approval: Approval,
        approved: bool,
        arguments: dict[str, Any] | None,
        comment: str | None,
    ) -> None:
        call_id: UUID = approval.tool_call_id  # type: ignore[attr-defined]
        now = utcnow()
        if approved:
            arguments = arguments or approval.arguments
            await ToolCall.decide(call_id, ToolCallStatus.APPROVED, now, arguments=arguments)
        else:
            reason = "The reviewer rejected this tool call."
            error = f"{reason} {comment}" if comment else reason
            await ToolCall.decide(call_id, ToolCallStatus.REJECTED, now, error=error)

    async def _announce(self, approval: Approval) -> None:
        """Log `approval_decided` and wake the run."""
        call = await ToolCall.get(id=approval.tool_call_id)  # type: ignore[attr-defined]
        run_id: UUID = approval.run_id  # type: ignore[attr-defined]
        data = approval_decided_data(approval, call.call_id)
        await self._events.emit(run_id, EventType.APPROVAL_DECIDED, data)
        self._wake_run(run_id)

    @staticmethod
    def _already_decided(approval: Approval) -> Conflict:
        return Conflict(
            f"The approval is already {approval.status}.",
            code=ErrorCode.APPROVAL_ALREADY_DECIDED,
            data={"approval_status": str(approval.status)},
        )
