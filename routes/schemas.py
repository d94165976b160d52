"""Request and response schemas for sessions, messages and context.

Hand-written on purpose: a new column is never a silent API change.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from core.storable import check_json, check_text
from models import MessageRole, MessageStatus, SessionStatus


def _no_nul(value: str) -> str:
    """Reject text either database cannot store (see core.storable)."""
    return check_text(value)


def _json_object(value: dict[str, Any]) -> dict[str, Any]:
    """Reject JSON that cannot round-trip through both databases (see core.storable)."""
    return check_json(value)


Text = Annotated[str, AfterValidator(_no_nul)]
JsonObject = Annotated[dict[str, Any], AfterValidator(_json_object)]
# Any JSON value (a tool's output), with the same rules as a JSON object.
JsonValue = Annotated[Any, AfterValidator(check_json)]
ClientMessageId = Annotated[str, Field(min_length=1, max_length=128), AfterValidator(_no_nul)]
Title = Annotated[str, Field(max_length=200), AfterValidator(_no_nul)]
AgentName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
# A session's agent: `name`, or `name@3` to pin version 3.
AgentRef = Annotated[
    str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+(@[0-9]{1,9})?$")
]


class Strict(BaseModel):
    """Base for request bodies: unknown fields are errors."""

    model_config = ConfigDict(extra="forbid")


class SessionCreate(Strict):
    """Body of POST /sessions."""

    title: Title = ""
    agent: AgentRef = "default"
    metadata: JsonObject = Field(default_factory=dict)


class SessionUpdate(Strict):
    """Body of PATCH /sessions/{id}; absent fields are left alone."""

    title: Title | None = None
    metadata: JsonObject | None = None
    status: SessionStatus | None = None


class SessionRead(BaseModel):
    """A chat session."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    title: str
    agent: str
    status: SessionStatus
    metadata: dict[str, Any]
    message_count: int
    created_at: datetime
    updated_at: datetime
    last_message_at: datetime | None
    parent_id: UUID | None
    forked_at_seq: int | None


class SessionPage(BaseModel):
    """A page of sessions, newest first."""

    items: list[SessionRead]
    next_cursor: str | None


class ForkCreate(Strict):
    """Body of POST /sessions/{id}/fork; title and metadata default to the parent's."""

    at_seq: Annotated[int, Field(ge=0, le=2**31 - 1)]
    title: Title | None = None
    metadata: JsonObject | None = None


class MessageEdit(Strict):
    """Body of POST /sessions/{id}/messages/{seq}/edit."""

    content: Annotated[str, Field(min_length=1), AfterValidator(_no_nul)]


class MessageCreate(Strict):
    """Body of POST /sessions/{id}/messages."""

    role: MessageRole
    content: Annotated[str, Field(min_length=1), AfterValidator(_no_nul)]
    client_message_id: ClientMessageId | None = None
    metadata: JsonObject = Field(default_factory=dict)


class MessageRead(BaseModel):
    """A stored message."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    session_id: UUID
    seq: int
    role: MessageRole
    content: str
    status: MessageStatus
    tool_calls: list[dict[str, Any]] | None
    tool_call_id: str | None
    run_id: UUID | None
    client_message_id: str | None
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class MessagePage(BaseModel):
    """A page of messages in ascending seq order."""

    items: list[MessageRead]
    next_cursor: str | None


class ContextRead(BaseModel):
    """A session's agent context."""

    model_config = ConfigDict(from_attributes=True)

    version: int
    data: dict[str, Any]


class ContextUpdate(Strict):
    """Body of PUT /sessions/{id}/context."""

    data: JsonObject
