"""What a tool is: its spec, the context it may touch, and its handler."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool as the model sees it, plus whether a human must approve each call.

    `side_effects` says whether a call changes anything outside the conversation
    (it describes the tool to whoever configures an agent's approval policy).
    """

    name: str
    description: str
    parameters: dict[str, Any] = field(hash=False)
    requires_approval: bool = False
    side_effects: bool = True


class ToolContext(Protocol):
    """The session's agent state, as tools may read and change it."""

    async def get_context(self) -> dict[str, Any]:
        """Return the session's context data."""
        ...

    async def set_context_key(self, key: str, value: Any) -> None:
        """Set `data[key] = value` in the session's context."""
        ...


ToolHandler = Callable[[dict[str, Any], ToolContext], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Tool:
    """A spec bound to the coroutine that runs the tool."""

    spec: ToolSpec
    handler: ToolHandler

    @property
    def name(self) -> str:
        """Return the tool's name."""
        return self.spec.name

    async def run(self, arguments: dict[str, Any], context: ToolContext) -> Any:
        """Run the tool with already validated arguments."""
        return await self.handler(arguments, context)
