"""Connect the agent runtime to persisted state: providers, tool context, turns."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from agent import (
    AgentRunner,
    ChatTurn,
    Provider,
    ScriptedProvider,
    build_default_registry,
)
from models import Message, MessageStatus, Run, RunStatus
from project.settings import AgentProvider, Settings
from services.context import AgentContextManager

# Messages the model may read: finished ones, and the partial text of interrupted ones.
READABLE_STATUSES = (MessageStatus.COMPLETE, MessageStatus.INTERRUPTED, MessageStatus.CANCELLED)


def build_provider(settings: Settings) -> Provider:
    """Return the provider the settings choose."""
    if settings.agent_provider is AgentProvider.OPENAI:
        from agent.providers.openai_compat import OpenAIProvider  # heavy import: only when used

        return OpenAIProvider(
            settings.openai_base_url,
            settings.openai_api_key,
            settings.agent_model,
            settings.agent_request_timeout_seconds,
        )
    return ScriptedProvider(settings.token_delay_ms)


def build_runner(settings: Settings) -> AgentRunner:
    """Return the agent runner with the built-in tools."""
    registry = build_default_registry(settings.tools_requiring_approval)
    return AgentRunner(build_provider(settings), registry)


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


TURN_FIELDS = ("role", "content", "tool_calls", "tool_call_id")


async def history_window(session_id: UUID, size: int, run_id: UUID) -> list[ChatTurn]:
    """Return the newest `size` readable messages run `run_id` may see, oldest first.

    Messages of runs still queued behind it (on_busy=enqueue) are not its history yet.
    """
    query = Message.filter(session_id=session_id, status__in=READABLE_STATUSES)
    queued = (
        await Run.filter(session_id=session_id, status=RunStatus.QUEUED)
        .exclude(id=run_id)
        .values_list("id", flat=True)
    )
    if queued:
        query = query.exclude(run_id__in=list(queued))
    # Only the fields a turn needs, as values: building full models (two timestamps
    # each) for every message of the window was ~9 % of a turn's CPU.
    rows = await query.order_by("-seq").limit(size).values(*TURN_FIELDS)
    return to_turns(list(reversed(rows)))


def to_turns(messages: Sequence[dict[str, Any]]) -> list[ChatTurn]:
    """Convert stored messages (TURN_FIELDS values) to turns; never start inside a tool exchange."""
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
