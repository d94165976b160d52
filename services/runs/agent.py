"""Connect the agent runtime to persisted state: the tool context and the turns."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from agent import ChatTurn, ToolFailed
from agent.tools.registry import DEFAULT_TOOL_NAMES
from core.errors import PayloadTooLarge, UnprocessableEntity
from core.settings import Settings, SettingsError, env_name
from services.sessions import AgentContextManager


def check_agent_settings(settings: Settings) -> None:
    """Raise SettingsError, naming the variable and the tools, for a tool that does not exist."""
    unknown = sorted(settings.tools_requiring_approval - set(DEFAULT_TOOL_NAMES))
    if unknown:
        raise SettingsError(
            f"invalid setting {env_name('tools_requiring_approval')}: "
            f"unknown tool {', '.join(unknown)}; the tools are {', '.join(DEFAULT_TOOL_NAMES)}"
        )


class SessionToolContext:
    """A session's agent context as tools see it (writes go through the manager)."""

    def __init__(self, session_id: UUID, contexts: AgentContextManager) -> None:
        self._session_id = session_id
        self._contexts = contexts

    async def get_context(self) -> dict[str, Any]:
        """Return the session's context data."""
        return dict((await self._contexts.get(self._session_id)).data)

    async def set_context_key(self, key: str, value: Any) -> None:
        """Set one key, bumping the context version; a refused write fails the tool call."""
        try:
            await self._contexts.set_key(self._session_id, key, value)
        except (UnprocessableEntity, PayloadTooLarge) as exc:
            raise ToolFailed(exc.detail) from None


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
