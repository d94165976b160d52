"""Errors raised by tools and the tool registry."""

from __future__ import annotations


class ToolFailed(Exception):
    """An expected tool failure; its message is safe to show to the model and the user."""


class UnknownTool(Exception):
    """No tool of that name is registered."""

    def __init__(self, name: str) -> None:
        super().__init__(f"Unknown tool: {name!r}")
        self.name = name


class InvalidToolArguments(Exception):
    """Tool arguments do not match the tool's JSON Schema."""

    def __init__(self, message: str, errors: list[str]) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors
