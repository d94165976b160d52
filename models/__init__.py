"""Tortoise models, one module per model, each with its named queries.

`__models__` is the explicit list. Services query through the named queries
defined on each model; the few written in SQL take their columns from the
model (`models/columns.py`).
"""

from models.agent_versions import AgentVersion
from models.agents import BUILTIN_AGENT, Agent
from models.approvals import Approval
from models.context import AgentContext
from models.context_snapshots import ContextSnapshot
from models.enums import (
    ACTIVE_RUN_STATUSES,
    READABLE_MESSAGE_STATUSES,
    TERMINAL_EVENT_TYPES,
    TERMINAL_RUN_STATUSES,
    ApprovalStatus,
    EventType,
    MessageRole,
    MessageStatus,
    RunStatus,
    SessionStatus,
    ToolCallStatus,
)
from models.messages import AppendOutcome, AppendRequest, AppendResult, Message, MessageDraft
from models.request_counts import RequestCount
from models.run_events import RunEvent
from models.runs import Run
from models.sessions import ChatSession, Segment
from models.tool_calls import IN_DOUBT_MESSAGE, ToolCall
from models.users import ApiToken, TokenHolder, User

__models__ = [
    User,
    ApiToken,
    ChatSession,
    Message,
    AgentContext,
    ContextSnapshot,
    Run,
    RunEvent,
    ToolCall,
    Approval,
    RequestCount,
    Agent,
    AgentVersion,
]
# Passing state the server rebuilds as it runs (request counts): not backed up.
TRANSIENT_MODELS = [RequestCount]

__all__ = [
    "ACTIVE_RUN_STATUSES",
    "BUILTIN_AGENT",
    "IN_DOUBT_MESSAGE",
    "READABLE_MESSAGE_STATUSES",
    "TRANSIENT_MODELS",
    "TERMINAL_EVENT_TYPES",
    "TERMINAL_RUN_STATUSES",
    "Agent",
    "AgentContext",
    "AgentVersion",
    "ApiToken",
    "AppendOutcome",
    "AppendRequest",
    "AppendResult",
    "Approval",
    "ApprovalStatus",
    "ChatSession",
    "ContextSnapshot",
    "EventType",
    "Message",
    "MessageDraft",
    "MessageRole",
    "MessageStatus",
    "RequestCount",
    "Run",
    "RunEvent",
    "RunStatus",
    "Segment",
    "SessionStatus",
    "TokenHolder",
    "ToolCall",
    "ToolCallStatus",
    "User",
]
