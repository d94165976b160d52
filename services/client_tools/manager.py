"""ClientToolManager: the results clients send for the tool calls they run.

A call of a client-executed tool waits (`awaiting_client`) with its run
parked (`waiting_for_client`). A result is a conditional update on the
call's status, so the first of two concurrent results wins; the call is
settled from the database when the run resumes, on any process and after
restarts. A call nobody answers in time ends with an error result. Waking the
run here is only the fast path: the sweeper resumes answered runs as well.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from core.clock import utcnow
from core.errors import Conflict, ErrorCode, NotFound
from models import Run, ToolCall, ToolCallStatus

EXPIRED_MESSAGE = "The client did not send a result in time."

# What a client is told about a call that no longer waits, by the call's status.
_ENDED = {
    ToolCallStatus.SUCCEEDED: "answered",
    ToolCallStatus.FAILED: "expired",
    ToolCallStatus.REJECTED: "cancelled",
}


class ClientToolManager:
    """Take client results once; expire the calls nobody answers."""

    def __init__(self, wake_run: Callable[[UUID], None]) -> None:
        self._wake_run = wake_run

    async def submit(self, run: Run, tool_call_id: str, output: Any) -> ToolCall:
        """Record the client's result of one call of the run and wake the run."""
        call = await ToolCall.of_client(run.id, tool_call_id)
        if call is None:
            raise NotFound(
                "The run has no call of a client tool with this id.",
                code=ErrorCode.TOOL_CALL_NOT_FOUND,
            )
        now = utcnow()
        assert call.expires_at is not None  # a client call always has one
        if call.status is ToolCallStatus.AWAITING_CLIENT and call.expires_at <= now:
            await self.expire(call.id)
        elif await ToolCall.answer(call.id, output, now):
            self._wake_run(run.id)
            return await ToolCall.get(id=call.id)
        raise _not_waiting(await ToolCall.get(id=call.id))

    async def expire(self, call_id: UUID) -> bool:
        """End one call's wait with an error result; the run resumes with it."""
        expired = await ToolCall.give_up_on_client(call_id, EXPIRED_MESSAGE, utcnow())
        if expired:
            call = await ToolCall.get(id=call_id)
            self._wake_run(call.run_id)  # type: ignore[attr-defined]
        return expired

    async def expire_due(self) -> int:
        """Expire every call whose wait is over (sweeper)."""
        expired = 0
        for call_id in await ToolCall.client_calls_due(utcnow()):
            expired += await self.expire(call_id)
        return expired


def _not_waiting(call: ToolCall) -> Conflict:
    ended = _ENDED.get(call.status, str(call.status))
    return Conflict(
        f"The tool call no longer waits for a result: it was {ended}.",
        code=ErrorCode.TOOL_CALL_NOT_WAITING,
        data={"tool_call_status": ended},
    )
