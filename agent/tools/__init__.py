"""Built-in tools and the registry that validates and describes them."""

from agent.tools.base import Tool, ToolContext, ToolHandler, ToolSpec
from agent.tools.errors import InvalidToolArguments, ToolFailed, UnknownTool
from agent.tools.registry import ToolRegistry, build_default_registry

__all__ = [
    "InvalidToolArguments",
    "Tool",
    "ToolContext",
    "ToolFailed",
    "ToolHandler",
    "ToolRegistry",
    "ToolSpec",
    "UnknownTool",
    "build_default_registry",
]
