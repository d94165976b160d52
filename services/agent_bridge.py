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
from models import MessageStatus, RunStatus
from project.settings import AgentProvider, Settings
from services.context import AgentContextManager
from services.raw_sql import fetch_rows, json_value

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

# Messages of runs still queued behind this one (on_busy=enqueue) are not its
# history yet. One hand-written query per model round (services/raw_sql.py), and
# only the columns a turn needs: building full models was ~9 % of a turn's CPU.
# Messages posted without a run (run_id NULL) are history too: `NULL NOT IN (…)`
# is not true, so they need their own clause.
_READABLE_SQL = ", ".join(f"'{status}'" for status in READABLE_STATUSES)
_WINDOW_SQL = (
    f"SELECT {', '.join(TURN_FIELDS)} FROM message WHERE session_id = $1 "
    f"AND status IN ({_READABLE_SQL}) "
    "AND (run_id IS NULL OR run_id NOT IN (SELECT id FROM run WHERE session_id = $1 "
    f"AND status = '{RunStatus.QUEUED}' AND id <> $2)) "
    "ORDER BY seq DESC LIMIT $3"
)


async def history_window(session_id: UUID, size: int, run_id: UUID) -> list[ChatTurn]:
    """Return the newest `size` readable messages run `run_id` may see, oldest first."""
    rows = await fetch_rows(_WINDOW_SQL, session_id, run_id, size)
    for row in rows:
        row["tool_calls"] = json_value(row["tool_calls"])
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
