"""Plugin tools: server-side tools that installed packages declare under an entry-point group.

A package declares each tool in its `pyproject.toml`:

    [project.entry-points."terrapin.tools"]
    word_count = "terrapin_text_tools:word_count"

The entry point names a `Tool` (or a function without arguments that returns
one) whose name is the entry point's name. The server loads every plugin
tool at startup, next to the built-in ones; a plugin that cannot be loaded
stops it with a `PluginError` naming the plugin.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from agent.tools.base import Tool
from agent.tools.registry import ToolRegistry, builtin_tools

__all__ = ["ENTRY_POINT_GROUP", "PluginError", "ToolCatalog", "load_tool_catalog"]

ENTRY_POINT_GROUP = "terrapin.tools"
MAX_REASON_CHARS = 300
# What every model provider accepts as a function name.
TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class PluginError(Exception):
    """A plugin tool cannot be used; the message is one line naming the plugin."""


@dataclass(frozen=True, slots=True)
class ToolCatalog:
    """Every server tool of this process: the built-ins, then the plugins' tools."""

    registry: ToolRegistry
    # Tool name -> the distribution (package) that declares it, for plugin tools.
    plugins: dict[str, str]


def load_tool_catalog(found: Iterable[EntryPoint] | None = None) -> ToolCatalog:
    """Load the built-in tools and every plugin tool (`found`: the installed entry points)."""
    registry = ToolRegistry(builtin_tools())
    plugins: dict[str, str] = {}
    points = entry_points(group=ENTRY_POINT_GROUP) if found is None else found
    for point in sorted(points, key=lambda point: point.name):
        tool = _load(point)
        if registry.knows(tool.name):
            raise _broken(point, f"another tool is already called {tool.name!r}")
        registry.register(tool)
        plugins[tool.name] = point.dist.name if point.dist is not None else point.module
    return ToolCatalog(registry, plugins)


def _load(point: EntryPoint) -> Tool:
    """Import one entry point and check that it is a usable tool."""
    # The plugin's own code may fail in any way: every exception names the plugin.
    try:
        loaded = point.load()
    except Exception as exc:
        raise _broken(point, f"it cannot be imported: {type(exc).__name__}: {exc}") from exc
    tool = loaded
    if callable(loaded) and not isinstance(loaded, Tool):
        try:
            tool = loaded()
        except Exception as exc:
            raise _broken(point, f"its factory failed: {type(exc).__name__}: {exc}") from exc
    if not isinstance(tool, Tool):
        raise _broken(point, f"it is a {type(tool).__name__}, not a Tool")
    if tool.name != point.name:
        raise _broken(point, f"the tool is called {tool.name!r}, not {point.name!r}")
    if not TOOL_NAME.match(tool.name):
        raise _broken(point, "a tool name is 1 to 64 of A-Z a-z 0-9 _ -")
    if not callable(tool.handler):
        raise _broken(point, "its handler is not callable")
    try:
        Draft202012Validator.check_schema(tool.spec.parameters)
    except SchemaError as exc:
        raise _broken(point, f"its parameters are not a valid JSON Schema: {exc.message}") from exc
    return tool


def _broken(point: EntryPoint, reason: str) -> PluginError:
    """The error for a broken plugin: one line, naming the entry point and its target."""
    line = " ".join(reason.split())[:MAX_REASON_CHARS]
    return PluginError(f"plugin tool {point.name!r} ({point.value}) is broken: {line}")
