"""Service managers, one package per domain: the only code that writes to the database.

    auth        users, API tokens, the caller of a request
    sessions    chat sessions, their message history and agent context
    runs        agent runs: start, drive, lifecycle, sweeper
    events      the durable run event log and its live followers
    approvals   human decisions on tool calls
    common      group commit and keyset pagination, shared by the above

`Services` (container.py) builds them all for one process.
"""

from models import AppendResult, MessageDraft
from services.auth import Caller, IssuedToken, UserService
from services.common.pagination import Page
from services.container import Services
from services.sessions import AgentContextManager, BranchManager, SessionManager

__all__ = [
    "AgentContextManager",
    "AppendResult",
    "BranchManager",
    "Caller",
    "IssuedToken",
    "MessageDraft",
    "Page",
    "Services",
    "SessionManager",
    "UserService",
]
