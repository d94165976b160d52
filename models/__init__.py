"""Tortoise models, one module per aggregate; `__models__` is the explicit list."""

from models.approvals import Approval
from models.context import AgentContext
from models.enums import (
    ApprovalStatus,
    MessageRole,
    MessageStatus,
    RunStatus,
    SessionStatus,
    ToolCallStatus,
)
from models.runs import Run, RunEvent, ToolCall
from models.sessions import ChatSession, Message
from models.users import ApiToken, User

__models__ = [User, ApiToken, ChatSession, Message, AgentContext, Run, RunEvent, ToolCall, Approval]

__all__ = [
    "AgentContext",
    "ApiToken",
    "Approval",
    "ApprovalStatus",
    "ChatSession",
    "Message",
    "MessageRole",
    "MessageStatus",
    "Run",
    "RunEvent",
    "RunStatus",
    "SessionStatus",
    "ToolCall",
    "ToolCallStatus",
    "User",
]
