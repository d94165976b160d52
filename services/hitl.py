"""HITLManager: human approval of tool calls, decided once, durable across restarts.

A decision is a conditional update on `status = pending`; the row count tells
the winner of two concurrent decisions. The decision is recorded on the tool
call in the same transaction, so a run resumed by any process (or after a
restart) reads the outcome from the database. Waking the run in this process
is only the fast path; the sweeper resumes decided runs as well.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

from tortoise.transactions import in_transaction

from agent import InvalidToolArguments, ToolRegistry
from models import Approval, ApprovalStatus, ToolCall, ToolCallStatus
from project.errors import Conflict, ErrorCode, NotFound, UnprocessableEntity
from services.clock import utcnow
from services.events import EventLog
from services.pagination import Page, newest_first
from services.users import Caller

EXPIRED_MESSAGE = "The approval expired before anyone decided."


class Decision(StrEnum):
    """What a reviewer may answer."""

    APPROVE = "approve"
    REJECT = "reject"


class HITLManager:
    """Create, list and decide approvals; expire the overdue ones."""

    def __init__(
        self,
        events: EventLog,
        registry: ToolRegistry,
        ttl_seconds: int,
        wake_run: Callable[[UUID], None],
    ) -> None:
        self._events = events
        self._registry = registry
        self._ttl = timedelta(seconds=ttl_seconds)
        self._wake_run = wake_run

    def expiry_from(self, now: datetime) -> datetime:
        """When an approval requested now expires."""
        return now + self._ttl

    async def get(self, caller: Caller, approval_id: UUID, *, write: bool = False) -> Approval:
        """Load one approval visible to the caller, or 404."""
        approval = await caller.scope(Approval.all(), "session__owner_id", write=write).get_or_none(
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
        query = caller.scope(Approval.all(), "session__owner_id", write=False)
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
        if decision is Decision.APPROVE and arguments is not None:
            self._validate(approval.tool, arguments)
        now = utcnow()
        if approval.expires_at <= now:
            await self.expire(approval.id)
            raise self._already_decided(await Approval.get(id=approval.id))
        approved = decision is Decision.APPROVE
        async with in_transaction():
            won = await Approval.filter(id=approval.id, status=ApprovalStatus.PENDING).update(
                status=ApprovalStatus.APPROVED if approved else ApprovalStatus.REJECTED,
                edited_arguments=arguments if approved else None,
                comment=comment,
                decided_by_id=caller.user_id,
                decided_at=now,
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
        async with in_transaction():
            won = await Approval.filter(id=approval_id, status=ApprovalStatus.PENDING).update(
                status=ApprovalStatus.EXPIRED, decided_at=utcnow()
            )
            if won:
                approval = await Approval.get(id=approval_id)
                await ToolCall.filter(
                    id=approval.tool_call_id,  # type: ignore[attr-defined]
                    status=ToolCallStatus.PROPOSED,
                ).update(status=ToolCallStatus.REJECTED, error=EXPIRED_MESSAGE)
        if won:
            await self._announce(await Approval.get(id=approval_id))
        return bool(won)

    async def expire_due(self) -> int:
        """Expire every pending approval past its `expires_at` (sweeper)."""
        due = await Approval.filter(
            status=ApprovalStatus.PENDING, expires_at__lte=utcnow()
        ).values_list("id", flat=True)
        expired = 0
        for approval_id in due:
            expired += await self.expire(UUID(str(approval_id)))
        return expired

    async def cancel_for_run(self, run_id: UUID) -> None:
        """Cancel the pending approvals of a run that was cancelled."""
        await Approval.filter(run_id=run_id, status=ApprovalStatus.PENDING).update(
            status=ApprovalStatus.CANCELLED, decided_at=utcnow()
        )
        await ToolCall.filter(run_id=run_id, status=ToolCallStatus.PROPOSED).update(
            status=ToolCallStatus.REJECTED, error="The run was cancelled."
        )

    def _validate(self, tool: str, arguments: dict[str, Any]) -> None:
        try:
            self._registry.validate(tool, arguments)
        except InvalidToolArguments as exc:
            raise UnprocessableEntity(
                f"The edited arguments do not match the schema of {tool!r}: {exc.message}",
                code=ErrorCode.INVALID_TOOL_ARGUMENTS,
                data={"errors": list(exc.errors)},
            ) from None

    async def _record_on_tool_call(
        self,
        approval: Approval,
        approved: bool,
        arguments: dict[str, Any] | None,
        comment: str | None,
    ) -> None:
        query = ToolCall.filter(
            id=approval.tool_call_id,  # type: ignore[attr-defined]
            status=ToolCallStatus.PROPOSED,
        )
        if approved:
            await query.update(
                status=ToolCallStatus.APPROVED, arguments=arguments or approval.arguments
            )
        else:
            reason = "The reviewer rejected this tool call."
            await query.update(
                status=ToolCallStatus.REJECTED, error=f"{reason} {comment}" if comment else reason
            )

    async def _announce(self, approval: Approval) -> None:
        """Log `approval_decided` and wake the run."""
        call = await ToolCall.get(id=approval.tool_call_id)  # type: ignore[attr-defined]
        run_id: UUID = approval.run_id  # type: ignore[attr-defined]
        await self._events.emit(
            run_id,
            "approval_decided",
            {
                "approval_id": str(approval.id),
                "call_id": call.call_id,
                "tool": approval.tool,
                "status": str(approval.status),
                "arguments": approval.edited_arguments or approval.arguments,
                "comment": approval.comment,
            },
        )
        self._wake_run(run_id)

    @staticmethod
    def _already_decided(approval: Approval) -> Conflict:
        return Conflict(
            f"The approval is already {approval.status}.",
            code=ErrorCode.APPROVAL_ALREADY_DECIDED,
            data={"approval_status": str(approval.status)},
        )
