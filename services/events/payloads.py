"""Plain-JSON views of rows, for event payloads (the API schemas live in routes/)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from models import Approval, Message, Run, ToolCall


def timestamp(value: datetime) -> str:
    """Render a UTC datetime exactly as the API schemas do (`...Z`)."""
    return value.isoformat().replace("+00:00", "Z")


def message_data(message: Message) -> dict[str, Any]:
    """The `message` event payload: the message as GET /messages shows it."""
    return {
        "id": str(message.id),
        "session_id": str(message.session_id),  # type: ignore[attr-defined]
        "seq": message.seq,
        "role": str(message.role),
        "content": message.content,
        "status": str(message.status),
        "tool_calls": message.tool_calls,
        "tool_call_id": message.tool_call_id,
        "run_id": str(message.run_id) if message.run_id else None,  # type: ignore[attr-defined]
        "client_message_id": message.client_message_id,
        "metadata": message.metadata,
        "created_at": timestamp(message.created_at),
        "updated_at": timestamp(message.updated_at),
    }


def run_data(run: Run, status: str | None = None) -> dict[str, Any]:
    """The `run`/`done` event payload."""
    return {
        "run_id": str(run.id),
        "session_id": str(run.session_id),
        "status": status or str(run.status),
    }


def approval_required_data(approval: Approval, call_id: str) -> dict[str, Any]:
    """The `approval_required` event payload."""
    return {
        "approval_id": str(approval.id),
        "call_id": call_id,
        "tool": approval.tool,
        "arguments": approval.arguments,
        "expires_at": timestamp(approval.expires_at),
    }


def approval_decided_data(approval: Approval, call_id: str) -> dict[str, Any]:
    """The `approval_decided` event payload."""
    return {
        "approval_id": str(approval.id),
        "call_id": call_id,
        "tool": approval.tool,
        "status": str(approval.status),
        "arguments": approval.edited_arguments or approval.arguments,
        "comment": approval.comment,
    }


def client_tool_call_data(call: ToolCall) -> dict[str, Any]:
    """The `client_tool_call` event payload: what the client runs, and until when."""
    assert call.expires_at is not None  # set on every call of a client-executed tool
    return {
        "call_id": call.call_id,
        "tool": call.tool,
        "arguments": call.arguments,
        "expires_at": timestamp(call.expires_at),
    }
