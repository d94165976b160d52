"""Connect the agent runtime to persisted state: the tool context and the turns."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from agent import ChatTurn
from services.sessions import AgentContextManager


class SessionToolContext:
    """A session's agent context as tools see it (writes go through the manager)."""

    def __init__(self, session_id: UUID, contexts: AgentContextManager) -> None:
        self._session_id = session_id
        self._contexts = contexts

    async def get_context(self) -> dict[str, Any]:
        """Return the session's context data."""
        return dict((await self._contexts.get(self._session_id)).data)

    async def set_context_key(self, key: str, value: Any) -> None:
        """Set one key, bumping the context version."""
        await self._contexts.set_key(self._session_id, key, value)


def to_turns(messages: Sequence[dict[str, Any]]) -> list[ChatTurn]:
    """Convert stored messages (role, content, tool_calls, tool_call_id) to turns.

    A window never starts inside a tool exchange: leading tool results whose
    call fell outside it are dropped.
    """
    turns = [
        ChatTurn(
            role=str(message["role"]),
            content=message["content"],
            tool_calls=message["tool_calls"],
            tool_call_id=message["tool_call_id"],
        )
        for message in messages
    ]
    while turns and turns[0].role == "tool":
        turns.pop(0)
    return turns
