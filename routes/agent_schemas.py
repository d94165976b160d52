"""Request and response schemas for agent runs and approvals."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from models import ApprovalStatus, RunStatus
from routes.schemas import AgentName, ClientMessageId, JsonObject, MessageRead, Strict, Text
from services.approvals import Decision
from services.runs import OnBusy


class AgentMessageCreate(Strict):
    """Body of POST /agent/message and /agent/message/stream.

    Without `message` the agent answers the history of `session_id` as it stands.
    """

    session_id: UUID | None = None
    message: Annotated[Text, Field(min_length=1)] | None = None
    agent: AgentName | None = None
    client_message_id: ClientMessageId | None = None
    on_busy: OnBusy = OnBusy.REJECT

    @model_validator(mode="after")
    def _message_or_session(self) -> AgentMessageCreate:
        if self.message is None and self.session_id is None:
            raise ValueError("send a message, or a session_id whose history to answer")
        if self.message is None and self.client_message_id is not None:
            raise ValueError("client_message_id names a new message; send one with it")
        return self


class RunRead(BaseModel):
    """An agent run."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    session_id: UUID
    status: RunStatus
    agent: str
    input_message_id: UUID | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    last_event_id: int = Field(validation_alias="event_count")


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
