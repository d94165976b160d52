"""The persisted steps of a run: assistant text, tool calls and their outcomes.

Each function writes one fact and emits its event; the executor strings them
together. Nothing here keeps state between calls, so a run resumes from the
database alone.
"""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from tortoise.transactions import in_transaction

from agent import AgentRunner, ToolCallRequested, ToolOutcome
from models import (
    Approval,
    Message,
    MessageRole,
    MessageStatus,
    Run,
    RunEvent,
    ToolCall,
    ToolCallStatus,
)
from services.agent_bridge import SessionToolContext
from services.clock import utcnow
from services.context import AgentContextManager
from services.events import EventLog
from services.hitl import HITLManager
from services.message_writer import AppendRequest, MessageDraft, append_in_transaction
from services.raw_sql import fetch_rows
from services.serializers import approval_required_data

log = logging.getLogger("terrapin.runs")

IN_DOUBT_MESSAGE = (
    "The tool call started but its result was never recorded (the server stopped during it); "
    "it may or may not have taken effect and was not run again."
)

# A call is answered once the run holds its tool message (see settle_tool_call).
_OPEN_TOOL_CALL_SQL = (
    "SELECT c.id, c.run_id, c.call_id, c.tool, c.arguments, c.status, c.result, c.error, "
    "c.created_at, c.updated_at, c.started_at, c.finished_at FROM tool_call c "
    "WHERE c.run_id = $1 AND NOT EXISTS (SELECT 1 FROM message m WHERE m.run_id = $1 "
    f"AND m.role = '{MessageRole.TOOL}' AND m.tool_call_id = c.call_id) "
    "ORDER BY c.created_at, c.call_id LIMIT 1"
)


async def append_message(session_id: UUID, draft: MessageDraft) -> Message:
    """Append one message in its own transaction and return it."""
    async with in_transaction():
        return await append_message_in_transaction(session_id, draft)


async def append_message_in_transaction(session_id: UUID, draft: MessageDraft) -> Message:
    """Append one message inside the caller's transaction and return it."""
    outcome = (await append_in_transaction([AppendRequest(session_id, draft)]))[0]
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome.message


async def open_tool_call(run_id: UUID) -> ToolCall | None:
    """The run's first tool call whose outcome the model has not been given yet."""
    # Every step of every run asks this: one hand-written query (services/raw_sql.py)
    # instead of two ORM reads, one of which built a model for every call of the run.
    rows = await fetch_rows(_OPEN_TOOL_CALL_SQL, run_id)
    return ToolCall._init_from_db(**rows[0]) if rows else None


async def propose_tool_call(
    run: Run, request: ToolCallRequested, runner: AgentRunner, hitl: HITLManager, events: EventLog
) -> None:
    """Record a requested tool call; ask for approval when the tool needs it."""
    status, error = ToolCallStatus.APPROVED, None
    tool = runner.registry.get(request.tool)
    if tool is None:
        status, error = ToolCallStatus.FAILED, f"Unknown tool: {request.tool!r}"
    else:
        try:
            runner.registry.validate(request.tool, request.arguments)
        except Exception as exc:  # InvalidToolArguments: reported to the model, not run
            status, error = ToolCallStatus.FAILED, getattr(exc, "message", str(exc))
    needs_approval = status is ToolCallStatus.APPROVED and runner.registry.needs_approval(
        request.tool
    )
    if needs_approval:
        status = ToolCallStatus.PROPOSED
    now = utcnow()
    async with in_transaction():
        call = await ToolCall.create(
            run_id=run.id,
            call_id=request.call_id,
            tool=request.tool,
            arguments=request.arguments,
            status=status,
            error=error,
        )
        if needs_approval:
            await Approval.create(
                session_id=run.session_id,  # type: ignore[attr-defined]
                run_id=run.id,
                tool_call=call,
                tool=request.tool,
                arguments=request.arguments,
                expires_at=hitl.expiry_from(now),
            )
    # `approval_required` follows once the run is parked (see `announce_approval`).
    await events.emit(
        run.id,
        "tool_call",
        {
            "call_id": request.call_id,
            "tool": request.tool,
            "arguments": request.arguments,
        },
    )


async def announce_approval(run: Run, call: ToolCall, approval: Approval, events: EventLog) -> None:
    """Emit `approval_required` for a parked call, once per approval."""
    announced = await RunEvent.filter(run_id=run.id, type="approval_required")
    if any(event.data.get("approval_id") == str(approval.id) for event in announced):
        return
    await events.emit(run.id, "approval_required", approval_required_data(approval, call.call_id))


async def settle_tool_call(
    run: Run,
    call: ToolCall,
    runner: AgentRunner,
    contexts: AgentContextManager,
    events: EventLog,
) -> None:
    """Turn a decided tool call into its outcome (running it at most once) and report it."""
    outcome = await _outcome(run, call, runner, contexts)
    payload: dict[str, Any] = {"call_id": call.call_id, "tool": call.tool}
    if outcome.ok:
        payload["result"] = outcome.result
    else:
        payload["error"] = outcome.error
    await events.emit(run.id, "tool_result", payload)
    turn = outcome.to_turn(call.call_id, call.tool)
    await append_message(
        run.session_id,  # type: ignore[attr-defined]
        MessageDraft(
            role=MessageRole.TOOL, content=turn.content, tool_call_id=call.call_id, run_id=run.id
        ),
    )


async def _outcome(
    run: Run, call: ToolCall, runner: AgentRunner, contexts: AgentContextManager
) -> ToolOutcome:
    """Execute an approved call, or read the outcome already recorded."""
    if call.status is ToolCallStatus.APPROVED:
        claimed = await ToolCall.filter(id=call.id, status=ToolCallStatus.APPROVED).update(
            status=ToolCallStatus.STARTED, started_at=utcnow()
        )
        if claimed:
            return await _execute(run, call, runner, contexts)
        call = await ToolCall.get(id=call.id)
    if call.status is ToolCallStatus.STARTED:
        # Started by a process that died before recording a result: never run it again.
        await ToolCall.filter(id=call.id, status=ToolCallStatus.STARTED).update(
            status=ToolCallStatus.IN_DOUBT, error=IN_DOUBT_MESSAGE, finished_at=utcnow()
        )
        return ToolOutcome.failure(IN_DOUBT_MESSAGE)
    if call.status is ToolCallStatus.SUCCEEDED:
        return ToolOutcome.success(call.result)
    return ToolOutcome.failure(call.error or f"Tool call {call.status}.")


async def _execute(
    run: Run, call: ToolCall, runner: AgentRunner, contexts: AgentContextManager
) -> ToolOutcome:
    context = SessionToolContext(run.session_id, contexts)  # type: ignore[attr-defined]
    outcome = await runner.execute_tool(call.tool, call.arguments, context)
    await ToolCall.filter(id=call.id).update(
        status=ToolCallStatus.SUCCEEDED if outcome.ok else ToolCallStatus.FAILED,
        result=outcome.result,
        error=outcome.error,
        finished_at=utcnow(),
    )
    return outcome


async def close_streaming_messages(run_id: UUID, status: MessageStatus) -> None:
    """Give a stopped run's partial assistant text its final status (text is kept)."""
    await Message.filter(run_id=run_id, status=MessageStatus.STREAMING).update(
        status=status, updated_at=utcnow()
    )


async def mark_started_calls_in_doubt(run_id: UUID) -> None:
    """Tool calls of a dead run that started without a result are in doubt."""
    await ToolCall.filter(run_id=run_id, status=ToolCallStatus.STARTED).update(
        status=ToolCallStatus.IN_DOUBT, error=IN_DOUBT_MESSAGE, finished_at=utcnow()
    )
