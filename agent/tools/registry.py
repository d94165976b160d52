"""The tool registry: lookup, JSON Schema validation and approval policy."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from jsonschema import Draft202012Validator

from agent.tools.base import Tool, ToolSpec
from agent.tools.calculator import calculator_tool
from agent.tools.clock import clock_tool
from agent.tools.errors import InvalidToolArguments, UnknownTool
from agent.tools.memory import recall_tool, remember_tool

__all__ = ["ToolRegistry", "build_default_registry"]

DEFAULT_TOOL_NAMES = ("calculator", "clock", "remember", "recall")


class ToolRegistry:
    """Tools by name, in registration order, each with a checked JSON Schema."""

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        self._validators: dict[str, Draft202012Validator] = {}
        for tool in tools:
            self.register(tool)

    def register(self, tool: Tool) -> None:
        """Add a tool; its name must be new and its parameters a valid 2020-12 schema."""
        if tool.name in self._tools:
            raise ValueError(f"Tool {tool.name!r} is already registered")
        Draft202012Validator.check_schema(tool.spec.parameters)
        self._tools[tool.name] = tool
        self._validators[tool.name] = Draft202012Validator(tool.spec.parameters)

    def get(self, name: str) -> Tool | None:
        """Return the tool called `name`, or None."""
        return self._tools.get(name)

    def specs(self) -> list[ToolSpec]:
        """Return every tool's spec, in registration order."""
        return [tool.spec for tool in self._tools.values()]

    def names(self) -> list[str]:
        """Return the registered tool names, in registration order."""
        return list(self._tools)

    def needs_approval(self, name: str) -> bool:
        """Say whether calls of `name` wait for a human; unknown tools never run, so False."""
        tool = self._tools.get(name)
        return tool is not None and tool.spec.requires_approval

    def validate(self, name: str, arguments: Any) -> None:
        """Raise UnknownTool or InvalidToolArguments unless `arguments` fit the tool's schema."""
        validator = self._validators.get(name)
        if validator is None:
            raise UnknownTool(name)
        errors = [_describe(error) for error in validator.iter_errors(arguments)]
        if errors:
            errors.sort()
            raise InvalidToolArguments(f"Invalid arguments for {name}: {'; '.join(errors)}", errors)


def _describe(error: Any) -> str:
    """Render one jsonschema error with the path of the offending value."""
    path = "".join(f"[{part!r}]" if isinstance(part, int) else f".{part}" for part in error.path)
    return f"{path.lstrip('.')}: {error.message}" if path else str(error.message)


def build_default_registry(tools_requiring_approval: frozenset[str]) -> ToolRegistry:
    """Build the built-in tools; a name in `tools_requiring_approval` waits for a human."""
    unknown = sorted(tools_requiring_approval - set(DEFAULT_TOOL_NAMES))
    if unknown:
        raise ValueError(f"Unknown tools in tools_requiring_approval: {', '.join(unknown)}")
    needs = tools_requiring_approval.__contains__
    return ToolRegistry(
        [
            calculator_tool(needs("calculator")),
            clock_tool(needs("clock")),
            remember_tool(needs("remember")),
            recall_tool(needs("recall")),
        ]
    )
