"""Objects entry points of the plugin tests point at: good and broken plugin tools."""

from __future__ import annotations

from typing import Any

from agent import Tool, ToolContext, ToolSpec

PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {"text": {"type": "string"}},
    "required": ["text"],
    "additionalProperties": False,
}


async def shout(arguments: dict[str, Any], context: ToolContext) -> dict[str, Any]:
    return {"text": arguments["text"].upper()}


shout_tool = Tool(ToolSpec("shout", "Upper-case a text.", PARAMETERS, side_effects=False), shout)


def make_whisper() -> Tool:
    """A factory: the entry point may name a function that returns the tool."""
    return Tool(ToolSpec("whisper", "Lower-case a text.", PARAMETERS), shout)


def failing_factory() -> Tool:
    raise RuntimeError("no config file")


not_a_tool = {"name": "shout"}
bad_schema = Tool(ToolSpec("bad_schema", "x", {"type": "nonsense"}), shout)
clock_again = Tool(ToolSpec("clock", "Shadows the built-in clock.", PARAMETERS), shout)
spaced_name = Tool(ToolSpec("two words", "x", PARAMETERS), shout)
