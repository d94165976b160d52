"""Mapping between Terrapin turns/tools and the Chat Completions wire format."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from openai.types.chat import (
    ChatCompletionAssistantMessageParam,
    ChatCompletionFunctionToolParam,
    ChatCompletionMessageFunctionToolCallParam,
    ChatCompletionMessageParam,
)
from openai.types.chat.chat_completion_chunk import ChoiceDeltaToolCall

from agent.events import ToolCallRequested
from agent.history import ChatTurn
from agent.providers.base import ProviderError
from agent.tools.base import ToolSpec


def to_messages(turns: Sequence[ChatTurn]) -> list[ChatCompletionMessageParam]:
    """Map turns to Chat Completions messages."""
    return [_message(turn) for turn in turns]


def _message(turn: ChatTurn) -> ChatCompletionMessageParam:
    """Map one turn; unknown roles are a history error, not a crash."""
    if turn.role == "system":
        return {"role": "system", "content": turn.content}
    if turn.role == "user":
        return {"role": "user", "content": turn.content}
    if turn.role == "tool":
        return {"role": "tool", "content": turn.content, "tool_call_id": turn.tool_call_id or ""}
    if turn.role == "assistant":
        return _assistant_message(turn)
    raise ProviderError("invalid_history", f"Unsupported message role: {turn.role!r}")


def _assistant_message(turn: ChatTurn) -> ChatCompletionAssistantMessageParam:
    """Map an assistant turn, with its tool calls in OpenAI's shape."""
    message: ChatCompletionAssistantMessageParam = {"role": "assistant", "content": turn.content}
    if turn.tool_calls:
        message["tool_calls"] = [_tool_call(call) for call in turn.tool_calls]
        message["content"] = turn.content or None
    return message


def _tool_call(call: dict[str, Any]) -> ChatCompletionMessageFunctionToolCallParam:
    """Map a stored `{id, name, arguments}` tool call."""
    arguments = call.get("arguments", {})
    encoded = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {
        "id": str(call.get("id", "")),
        "type": "function",
        "function": {"name": str(call.get("name", "")), "arguments": encoded},
    }


def to_tools(specs: Sequence[ToolSpec]) -> list[ChatCompletionFunctionToolParam]:
    """Map tool specs to function tools."""
    return [
        {
            "type": "function",
            "function": {
                "name": spec.name,
                "description": spec.description,
                "parameters": spec.parameters,
            },
        }
        for spec in specs
    ]


@dataclass(slots=True)
class _PartialCall:
    """One tool call while its fragments arrive."""

    call_id: str | None = None
    name: str = ""
    arguments: str = ""


class ToolCallAccumulator:
    """Joins streamed tool-call fragments (keyed by `index`) into complete requests."""

    def __init__(self) -> None:
        self._calls: dict[int, _PartialCall] = {}

    def add(self, fragment: ChoiceDeltaToolCall) -> None:
        """Merge one fragment: the id is set once, name and arguments are concatenated."""
        partial = self._calls.setdefault(fragment.index, _PartialCall())
        if fragment.id and not partial.call_id:
            partial.call_id = fragment.id
        if fragment.function is not None:
            partial.name += fragment.function.name or ""
            partial.arguments += fragment.function.arguments or ""

    def finish(self) -> list[ToolCallRequested]:
        """Return the completed calls in index order."""
        return [_complete(index, self._calls[index]) for index in sorted(self._calls)]


def _complete(index: int, partial: _PartialCall) -> ToolCallRequested:
    """Turn a fully streamed call into a request, decoding its JSON arguments."""
    if not partial.name:
        raise ProviderError("provider_error", "The model sent a tool call without a name")
    try:
        arguments = json.loads(partial.arguments) if partial.arguments.strip() else {}
    except ValueError as exc:
        message = f"The model sent invalid JSON arguments for tool {partial.name!r}"
        raise ProviderError("invalid_tool_arguments", message) from exc
    if not isinstance(arguments, dict):
        message = f"The model sent non-object arguments for tool {partial.name!r}"
        raise ProviderError("invalid_tool_arguments", message)
    call_id = partial.call_id or _fallback_id(index, partial)
    return ToolCallRequested(call_id=call_id, tool=partial.name, arguments=arguments)


def _fallback_id(index: int, partial: _PartialCall) -> str:
    """Derive a stable call id for servers that send none."""
    digest = hashlib.sha256(f"{index}:{partial.name}:{partial.arguments}".encode()).hexdigest()
    return "call_" + digest[:16]
