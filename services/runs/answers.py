"""The tool message that answers a tool call: written once, right where the call is settled.

A Chat Completions history is valid only when every tool call of an assistant
message is answered by a tool message, so each call of a run gets exactly
one: its outcome when it ran, else why it did not run. The run step that
settles a call writes it; so does the end of a run, for every call still
unanswered (see `RunLifecycle`).
"""

from __future__ import annotations

from typing import Any

from agent import ToolOutcome
from core.clock import utcnow
from core.database import Database
from models import (
    AppendRequest,
    EventType,
    Message,
    MessageDraft,
    MessageRole,
    Run,
    RunStatus,
    ToolCall,
    ToolCallStatus,
)
from services.events import EventDraft

# What the model is told of a call its run never ran, by how the run ended.
NOT_RUN_REASONS = {
    RunStatus.CANCELLED: "The run was cancelled before this tool call ran.",
    RunStatus.INTERRUPTED: "The run was interrupted before this tool call ran.",
    RunStatus.FAILED: "The run failed before this tool call ran.",
    RunStatus.COMPLETED: "The run ended before this tool call ran.",
}


def not_run_reason(status: RunStatus) -> str:
    """Why a call of a run that ended with `status` was not run."""
    return NOT_RUN_REASONS.get(status, "This tool call was not run.")


def recorded_outcome(call: ToolCall) -> ToolOutcome:
    """The outcome a settled call's row records (its result, or why it failed or did not run)."""
    if call.status is ToolCallStatus.SUCCEEDED:
        return ToolOutcome.success(call.result)
    return ToolOutcome.failure(call.error or f"Tool call {call.status}.")


def tool_result_data(call: ToolCall, outcome: ToolOutcome) -> dict[str, Any]:
    """The `tool_result` event payload: the result, or the error, never both."""
    payload: dict[str, Any] = {"call_id": call.call_id, "tool": call.tool}
    if outcome.ok:
        payload["result"] = outcome.result
    else:
        payload["error"] = outcome.error
    return payload


async def answer(database: Database, run: Run, call: ToolCall, outcome: ToolOutcome) -> EventDraft:
    """Append the tool message answering `call` of `run`; return its `tool_result` event to log.

    Inside the caller's transaction, which holds the run's row lock and has
    checked that the call is still unanswered.
    """
    turn = outcome.to_turn(call.call_id, call.tool)
    draft = MessageDraft(
        role=MessageRole.TOOL, content=turn.content, tool_call_id=call.call_id, run_id=run.id
    )
    request = AppendRequest(run.session_id, draft)
    stored = (await Message.append(database, [request], utcnow()))[0]
    if isinstance(stored, BaseException):
        raise stored
    return EventDraft(run.id, EventType.TOOL_RESULT, tool_result_data(call, outcome))
