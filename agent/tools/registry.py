"""The tool registry: lookup, JSON Schema validation and approval policy.

A registry holds server tools (a spec and its handler) and, for an agent that
declares them, client tools: specs the model is offered like any other tool,
whose calls the client runs and answers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from jsonschema import Draft202012Validator

from agent.tools.base import Tool, ToolSpec
from agent.tools.calculator import calculator_tool
from agent.tools.clock import clock_tool
from agent.tools.errors import InvalidToolArguments, UnknownTool
from agent.tools.memory import recall_tool, remember_tool

__all__ = ["ToolRegistry", "build_default_registry", "builtin_tools"]

DEFAULT_TOOL_NAMES = ("calculator", "clock", "remember", "recall")


class ToolRegistry:
    """Tools by name, in registration order, each with a checked JSON Schema."""

    def __init__(self, tools: Iterable[Tool] = (), client_tools: Iterable[ToolSpec] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        self._client_tools: dict[str, ToolSpec] = {}
        self._validators: dict[str, Draft202012Validator] = {}
        for tool in tools:
            self.register(tool)
        for spec in client_tools:
            self.register_client_tool(spec)

    def register(self, tool: Tool) -> None:
        """Add a tool; its name must be new and its parameters a valid 2020-12 schema."""
        self._add_validator(tool.spec)
        self._tools[tool.name] = tool

    def register_client_tool(self, spec: ToolSpec) -> None:
        """Add a tool the client runs; its name must be new and its schema valid."""
        self._add_validator(spec)
        self._client_tools[spec.name] = spec

    def _add_validator(self, spec: ToolSpec) -> None:
        if spec.name in self._validators:
            raise ValueError(f"Tool {spec.name!r} is already registered")
        Draft202012Validator.check_schema(spec.parameters)
        self._validators[spec.name] = Draft202012Validator(spec.parameters)

    def get(self, name: str) -> Tool | None:
        """Return the server tool called `name`, or None."""
        return self._tools.get(name)

    def knows(self, name: str) -> bool:
        """Whether a tool of this name exists, on the server or on the client."""
        return name in self._validators

    def runs_on_client(self, name: str) -> bool:
        """Whether calls of `name` are run by the client."""
        return name in self._client_tools

    def specs(self) -> list[ToolSpec]:
        """Return every tool's spec: server tools, then client tools, in registration order."""
        return [tool.spec for tool in self._tools.values()] + list(self._client_tools.values())

    def names(self) -> list[str]:
        """Return the registered tool names, server tools first, in registration order."""
        return [*self._tools, *self._client_tools]

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

    def select(
        self,
        names: Iterable[str],
        requiring_approval: Iterable[str] = (),
        client_tools: Iterable[ToolSpec] = (),
    ) -> ToolRegistry:
        """A registry of some of these server tools, with its own approval policy.

        Raises UnknownTool for a name that is not a server tool here.
        """
        needs = set(requiring_approval)
        chosen = []
        for name in names:
            tool = self._tools.get(name)
            if tool is None:
                raise UnknownTool(name)
            spec = dataclasses.replace(tool.spec, requires_approval=name in needs)
            chosen.append(Tool(spec=spec, handler=tool.handler))
        return ToolRegistry(chosen, client_tools)


def _describe(error: Any) -> str:
    """Render one jsonschema error with the path of the offending value."""
    path = "".join(f"[{part!r}]" if isinstance(part, int) else f".{part}" for part in error.path)
    return f"{path.lstrip('.')}: {error.message}" if path else str(error.message)


def builtin_tools() -> list[Tool]:
    """The four built-in tools, none of them requiring approval."""
    return [calculator_tool(), clock_tool(), remember_tool(), recall_tool()]


def build_default_registry(tools_requiring_approval: frozenset[str]) -> ToolRegistry:
    """Build the built-in tools; a name in `tools_requiring_approval` waits for a human."""
    unknown = sorted(tools_requiring_approval - set(DEFAULT_TOOL_NAMES))
    if unknown:
        raise ValueError(f"Unknown tools in tools_requiring_approval: {', '.join(unknown)}")
    return ToolRegistry(builtin_tools()).select(DEFAULT_TOOL_NAMES, tools_requiring_approval)
