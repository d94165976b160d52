"""An example Terrapin plugin tool: `word_count` counts the words and characters of a text.

A plugin tool is a `Tool`: a `ToolSpec` (name, description, JSON Schema of its
arguments, whether it has side effects) bound to an async handler. Terrapin
checks the arguments against the schema before the handler runs; the handler
returns JSON, or raises `ToolFailed` with a message the model may read.
"""

from __future__ import annotations

from typing import Any

from agent import Tool, ToolContext, ToolFailed, ToolSpec

MAX_TEXT_CHARS = 100_000

PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "text": {"type": "string", "description": "The text to count.", "maxLength": MAX_TEXT_CHARS}
    },
    "required": ["text"],
    "additionalProperties": False,
}


async def count_words(arguments: dict[str, Any], context: ToolContext) -> dict[str, Any]:
    """Count the words (runs of non-space characters) and characters of `text`."""
    text = arguments["text"]
    if not text.strip():
        raise ToolFailed("There is no text to count.")
    return {"words": len(text.split()), "characters": len(text)}


word_count = Tool(
    spec=ToolSpec(
        name="word_count",
        description="Count the words and characters of a text.",
        parameters=PARAMETERS,
        side_effects=False,
    ),
    handler=count_words,
)
