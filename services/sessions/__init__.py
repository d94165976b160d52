"""Chat sessions: the sessions themselves, their message history and their agent context."""

from services.sessions.branches import BranchManager
from services.sessions.context import AgentContextManager
from services.sessions.manager import MessageRow, SessionManager
from services.sessions.writer import MessageBatchWriter

__all__ = [
    "AgentContextManager",
    "BranchManager",
    "MessageBatchWriter",
    "MessageRow",
    "SessionManager",
]
