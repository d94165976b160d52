"""The agent runner: one model round per `step`, tool execution on request.

The runner keeps no state between calls: every `step` reads only the turns it is given,
so a run resumes from persisted messages after approval, restart or crash.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

from agent.events import (
    AssistantMessage,
    Event,
    RunError,
    RunFinished,
    TextDelta,
    ToolCallRequested,
    Usage,
)
from agent.history import ChatTurn, tool_call_dict
from agent.outcome import ToolOutcome
from agent.providers.base import Provider, ProviderError
from agent.tools.base import ToolContext
from agent.tools.errors import InvalidToolArguments, ToolFailed
from agent.tools.registry import ToolRegistry

__all__ = ["AgentRunner", "ToolOutcome", "tool_rounds"]

logger = logging.getLogger(__name__)


def tool_rounds(turns: Sequence[ChatTurn]) -> int:
    """Count assistant turns with tool calls since the last user turn."""
    count = 0
    for turn in reversed(turns):
        if turn.role == "user":
            break
        if turn.role == "assistant" and turn.tool_calls:
            count += 1
    return count


class AgentRunner:
    """Drives a provider over a conversation and runs tools it asks for.

    `instructions`, if any, reach the model as a system message before the turns.
    """

    def __init__(
        self,
        provider: Provider,
        registry: ToolRegistry,
        max_tool_rounds: int = 8,
        *,
        instructions: str = "",
    ):
        if max_tool_rounds < 0:
            raise ValueError("max_tool_rounds must be >= 0")
        self.provider = provider
        self.registry = registry
        self.max_tool_rounds = max_tool_rounds
        self.instructions = instructions

    async def step(self, turns: Sequence[ChatTurn]) -> AsyncIterator[Event]:
        """Run one model round.

        Yields TextDelta events, the round's Usage (if the provider counts tokens), then
        AssistantMessage, then either RunFinished or one ToolCallRequested per requested
        call (and stops: the caller runs or rejects each call, appends tool turns and calls
        `step` again). A failed round yields RunError, possibly after some deltas and
        without an AssistantMessage.
        """
        may_call_tools = tool_rounds(turns) < self.max_tool_rounds
        tools = self.registry.specs() if may_call_tools else []
        if self.instructions:
            turns = [ChatTurn(role="system", content=self.instructions), *turns]
        parts: list[str] = []
        calls: list[ToolCallRequested] = []
        stream = self.provider.stream(turns, tools)
        try:
            async for item in stream:
                if isinstance(item, TextDelta):
                    parts.append(item.text)
                    yield item
                elif isinstance(item, Usage):
                    yield item
                else:
                    calls.append(item)
        except ProviderError as exc:
            yield RunError(exc.code, exc.message)
            return
        finally:
            await _aclose(stream)
        if calls and not may_call_tools:
            message = f"The model asked for a tool after {self.max_tool_rounds} tool rounds"
            yield RunError("tool_rounds_exceeded", message)
            return
        stored = [tool_call_dict(c.call_id, c.tool, c.arguments) for c in calls]
        yield AssistantMessage(content="".join(parts), tool_calls=stored or None)
        if not calls:
            yield RunFinished()
        for call in calls:
            yield call

    async def execute_tool(
        self, name: str, arguments: dict[str, Any], context: ToolContext
    ) -> ToolOutcome:
        """Validate and run one tool call; every failure becomes a failed outcome."""
        tool = self.registry.get(name)
        if tool is None:
            return ToolOutcome.failure(f"Unknown tool: {name!r}")
        try:
            self.registry.validate(name, arguments)
        except InvalidToolArguments as exc:
            return ToolOutcome.failure(exc.message)
        try:
            result = await tool.run(arguments, context)
        except ToolFailed as exc:
            return ToolOutcome.failure(str(exc) or f"Tool {name} failed")
        except Exception:
            logger.exception("tool %s raised unexpectedly", name)
            return ToolOutcome.failure(f"Tool {name} failed unexpectedly")
        if not _is_json(result):
            return ToolOutcome.failure(f"Tool {name} returned a result that is not JSON")
        return ToolOutcome.success(result)


async def _aclose(stream: AsyncIterator[Any]) -> None:
    """Close a provider stream (an async generator) so its connection is released now."""
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        await aclose()


def _is_json(value: Any) -> bool:
    """Say whether a value survives JSON encoding (it is persisted as JSON)."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True
