"""The payloads of run events, for the OpenAPI document of the streaming endpoints.

Events are written as plain JSON by the services (`services/events/payloads.py`
and the run steps); these models only describe them, one per event type
(docs/events.md says the same in prose). A test validates every event of
real runs against the schemas built from them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

from models import ApprovalStatus, EventType, RunStatus
from routes.schemas import MessageRead


class RunEventData(BaseModel):
    """`run`: the first event of every run."""

    run_id: UUID
    session_id: UUID
    status: RunStatus = Field(description="always `queued`")


class DeltaEventData(BaseModel):
    """`delta`: a piece of assistant text."""

    message_id: UUID
    text: str


class ToolCallEventData(BaseModel):
    """`tool_call`: the model asked for a tool call."""

    call_id: str
    tool: str
    arguments: Any = Field(description="the arguments the model sent")


class ApprovalRequiredEventData(BaseModel):
    """`approval_required`: the run waits for a human decision."""

    approval_id: UUID
    call_id: str
    tool: str
    arguments: dict[str, Any]
    expires_at: datetime


class ApprovalDecidedEventData(BaseModel):
    """`approval_decided`: the approval was decided, or it expired."""

    approval_id: UUID
    call_id: str
    tool: str
    status: ApprovalStatus
    arguments: dict[str, Any]
    comment: str | None


class ClientToolCallEventData(BaseModel):
    """`client_tool_call`: the run waits for the client to run a tool and send its result."""

    call_id: str = Field(description="send it back as `tool_call_id`")
    tool: str
    arguments: dict[str, Any]
    expires_at: datetime


class ToolResultEventData(BaseModel):
    """`tool_result`: a tool call's outcome; `result` or `error`, never both."""

    call_id: str
    tool: str
    result: Any = Field(default=None, description="what the tool returned, when it succeeded")
    error: str | None = Field(default=None, description="why it did not run or failed")


class DoneEventData(BaseModel):
    """`done` (terminal): the run completed, was cancelled, or was interrupted."""

    run_id: UUID
    session_id: UUID
    status: RunStatus


class ErrorEventData(BaseModel):
    """`error` (terminal): the run failed."""

    run_id: UUID
    session_id: UUID
    status: RunStatus = Field(description="always `failed`")
    code: str = Field(description="a stable run error code")
    message: str


# The `data:` of each event type (a `message` event carries a stored message).
EVENT_DATA: dict[EventType, type[BaseModel]] = {
    EventType.RUN: RunEventData,
    EventType.MESSAGE: MessageRead,
    EventType.DELTA: DeltaEventData,
    EventType.TOOL_CALL: ToolCallEventData,
    EventType.APPROVAL_REQUIRED: ApprovalRequiredEventData,
    EventType.APPROVAL_DECIDED: ApprovalDecidedEventData,
    EventType.CLIENT_TOOL_CALL: ClientToolCallEventData,
    EventType.TOOL_RESULT: ToolResultEventData,
    EventType.DONE: DoneEventData,
    EventType.ERROR: ErrorEventData,
}
