"""`remember` and `recall`: keys in the session's agent context."""

from __future__ import annotations

from typing import Any

from agent.tools.base import Tool, ToolContext, ToolSpec

MAX_KEY_LENGTH = 100

_KEY: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH}

REMEMBER_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {"key": _KEY, "value": {"description": "Any JSON value."}},
    "required": ["key", "value"],
    "additionalProperties": False,
}
RECALL_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {"key": _KEY},
    "required": ["key"],
    "additionalProperties": False,
}


async def remember(arguments: dict[str, Any], context: ToolContext) -> dict[str, Any]:
    """Store `value` under `key` in the session's context."""
    key, value = arguments["key"], arguments["value"]
    await context.set_context_key(key, value)
    return {"key": key, "value": value}


async def recall(arguments: dict[str, Any], context: ToolContext) -> dict[str, Any]:
    """Read `key` from the session's context."""
    key = arguments["key"]
    data = await context.get_context()
    return {"key": key, "value": data.get(key), "found": key in data}


def remember_tool(requires_approval: bool = False) -> Tool:
    """Build the remember tool."""
    spec = ToolSpec(
        name="remember",
        description="Save a value under a key in this session's memory.",
        parameters=REMEMBER_PARAMETERS,
        requires_approval=requires_approval,
    )
    return Tool(spec=spec, handler=remember)


def recall_tool(requires_approval: bool = False) -> Tool:
    """Build the recall tool."""
    spec = ToolSpec(
        name="recall",
        description="Read the value saved under a key in this session's memory.",
        parameters=RECALL_PARAMETERS,
        requires_approval=requires_approval,
        side_effects=False,
    )
    return Tool(spec=spec, handler=recall)
