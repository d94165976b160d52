"""Request and response schemas for agent runs and approvals."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from models import ApprovalStatus, Run, RunStatus, ToolCall
from routes.schemas import AgentRef, ClientMessageId, JsonObject, MessageRead, Strict, Text
from services.approvals import Decision
from services.runs import OnBusy


class AgentMessageCreate(Strict):
    """Body of POST /agent/message and /agent/message/stream.

    Without `message` the agent answers the history of `session_id` as it stands.
    """

    session_id: UUID | None = None
    message: Annotated[Text, Field(min_length=1)] | None = None
    agent: AgentRef | None = None
    client_message_id: ClientMessageId | None = None
    on_busy: OnBusy = OnBusy.REJECT

    @model_validator(mode="after")
    def _message_or_session(self) -> AgentMessageCreate:
        if self.message is None and self.session_id is None:
            raise ValueError("send a message, or a session_id whose history to answer")
        if self.message is None and self.client_message_id is not None:
            raise ValueError("client_message_id names a new message; send one with it")
        return self


class RunErrorRead(BaseModel):
    """Why a run failed (or was interrupted)."""

    code: str
    message: str


class RunUsageRead(BaseModel):
    """The tokens a run's model rounds used, as the provider reported them."""

    prompt_tokens: int
    completion_tokens: int


class RunRead(BaseModel):
    """An agent run."""

    id: UUID
    session_id: UUID
    status: RunStatus
    agent: str
    agent_version: int
    input_message_id: UUID | None
    error: RunErrorRead | None
    usage: RunUsageRead
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    last_event_id: int

    @model_validator(mode="before")
    @classmethod
    def _from_run(cls, data: Any) -> Any:
        """Read a Run row: its error as code and message, its token counts as `usage`."""
        if not isinstance(data, Run):
            return data
        error = data.error_detail()
        return {
            "id": data.id,
            "session_id": data.session_id,
            "status": data.status,
            "agent": data.agent,
            "agent_version": data.agent_version,
            "input_message_id": data.input_message_id,
            "error": None if error is None else {"code": error[0], "message": error[1]},
            "usage": {
                "prompt_tokens": data.prompt_tokens,
                "completion_tokens": data.completion_tokens,
            },
            "created_at": data.created_at,
            "started_at": data.started_at,
            "finished_at": data.finished_at,
            "last_event_id": data.event_count,
        }


class RunPage(BaseModel):
    """A page of runs, newest first."""

    items: list[RunRead]
    next_cursor: str | None


class ClientToolCallRead(BaseModel):
    """A call of a client-executed tool that waits for the client's result."""

    call_id: str
    tool: str
    arguments: dict[str, Any]
    expires_at: datetime

    @classmethod
    def of(cls, call: ToolCall) -> ClientToolCallRead:
        """The waiting call as the client needs it."""
        assert call.expires_at is not None  # every client call has one
        return cls(
            call_id=call.call_id,
            tool=call.tool,
            arguments=call.arguments,
            expires_at=call.expires_at,
        )


class ApprovalRead(BaseModel):
    """A human-in-the-loop approval."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    session_id: UUID
    run_id: UUID
    tool_call_id: UUID
    tool: str
    arguments: dict[str, Any]
    edited_arguments: dict[str, Any] | None
    status: ApprovalStatus
    comment: str | None
    decided_by_id: UUID | None
    created_at: datetime
    decided_at: datetime | None
    expires_at: datetime


class ApprovalPage(BaseModel):
    """A page of approvals, newest first."""

    items: list[ApprovalRead]
    next_cursor: str | None


class DecisionCreate(Strict):
    """Body of POST /approvals/{id}/decision."""

    decision: Decision
    arguments: JsonObject | None = None
    comment: Annotated[Text, Field(max_length=2000)] | None = None


class AgentTurnRead(BaseModel):
    """A finished (or paused) run with its messages."""

    run: RunRead
    messages: list[MessageRead]
    approval: ApprovalRead | None = None
    client_tool_call: ClientToolCallRead | None = None
