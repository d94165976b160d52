"""Terrapin's agent runtime: providers, tools and the run loop; no I/O of its own."""

from typing import TYPE_CHECKING, Any

from agent.events import (
    AssistantMessage,
    Event,
    RunError,
    RunFinished,
    TextDelta,
    ToolCallRequested,
    Usage,
)
from agent.history import (
    ChatTurn,
    ToolResult,
    decode_tool_result,
    encode_tool_result,
    pending_tool_calls,
    tool_call_dict,
    tool_result_turn,
)
from agent.loop import AgentRunner, tool_rounds
from agent.outcome import ToolOutcome
from agent.providers import Provider, ProviderError, ScriptedProvider
from agent.tools import (
    ENTRY_POINT_GROUP,
    InvalidToolArguments,
    PluginError,
    Tool,
    ToolCatalog,
    ToolContext,
    ToolFailed,
    ToolHandler,
    ToolRegistry,
    ToolSpec,
    UnknownTool,
    build_default_registry,
    builtin_tools,
    load_tool_catalog,
)

if TYPE_CHECKING:
    from agent.providers.openai_compat import OpenAIProvider


def __getattr__(name: str) -> Any:
    if name == "OpenAIProvider":  # imported lazily, see agent.providers
        from agent.providers.openai_compat import OpenAIProvider

        return OpenAIProvider
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AgentRunner",
    "AssistantMessage",
    "ChatTurn",
    "ENTRY_POINT_GROUP",
    "Event",
    "InvalidToolArguments",
    "OpenAIProvider",
    "PluginError",
    "Provider",
    "ProviderError",
    "RunError",
    "RunFinished",
    "ScriptedProvider",
    "TextDelta",
    "Tool",
    "ToolCallRequested",
    "ToolCatalog",
    "ToolContext",
    "ToolFailed",
    "ToolHandler",
    "ToolOutcome",
    "ToolRegistry",
    "ToolResult",
    "ToolSpec",
    "UnknownTool",
    "Usage",
    "build_default_registry",
    "builtin_tools",
    "decode_tool_result",
    "encode_tool_result",
    "load_tool_catalog",
    "pending_tool_calls",
    "tool_call_dict",
    "tool_result_turn",
    "tool_rounds",
]
