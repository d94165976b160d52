"""Built-in tools, plugin tools and the registry that validates and describes them."""

from agent.tools.base import Tool, ToolContext, ToolHandler, ToolSpec
from agent.tools.errors import InvalidToolArguments, ToolFailed, UnknownTool
from agent.tools.plugins import ENTRY_POINT_GROUP, PluginError, ToolCatalog, load_tool_catalog
from agent.tools.registry import ToolRegistry, build_default_registry, builtin_tools

__all__ = [
    "ENTRY_POINT_GROUP",
    "InvalidToolArguments",
    "PluginError",
    "Tool",
    "ToolCatalog",
    "ToolContext",
    "ToolFailed",
    "ToolHandler",
    "ToolRegistry",
    "ToolSpec",
    "UnknownTool",
    "build_default_registry",
    "builtin_tools",
    "load_tool_catalog",
]
