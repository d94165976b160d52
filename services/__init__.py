"""Service managers: the only code that writes to the database."""

from services.container import Services
from services.context import AgentContextManager
from services.message_writer import AppendResult, MessageDraft
from services.pagination import Page
from services.sessions import SessionManager
from services.users import Caller, IssuedToken, UserService

__all__ = [
    "AgentContextManager",
    "AppendResult",
    "Caller",
    "IssuedToken",
    "MessageDraft",
    "Page",
    "Services",
    "SessionManager",
    "UserService",
]
