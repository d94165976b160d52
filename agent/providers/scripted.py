"""The deterministic offline provider that drives tests, benchmarks and the default setup.

- a last user turn `/tool NAME {json-args}` asks for one call of tool NAME;
- a last tool turn is answered with `Result of NAME: <json>` or `Tool NAME failed: <error>`;
- anything else gets `Echo: ` plus the last user message.

Replies stream one word per delta; the deltas concatenate to the exact reply.
It counts words as tokens: the prompt is every word of the turns it reads, the
completion every word of its reply (or of the tool call's name and arguments).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import AsyncIterator, Sequence
from typing import Any

from agent.events import TextDelta, ToolCallRequested, Usage
from agent.history import ChatTurn, decode_tool_result
from agent.providers.base import ProviderError
from agent.tools.base import ToolSpec

TOOL_PREFIX = "/tool "
_WORD = re.compile(r"\s*\S+")


class ScriptedProvider:
    """Scripted, network-free chat model."""

    def __init__(self, token_delay_ms: int = 0) -> None:
        if token_delay_ms < 0:
            raise ValueError("token_delay_ms must be >= 0")
        self.token_delay_ms = token_delay_ms

    async def stream(
        self, turns: Sequence[ChatTurn], tools: Sequence[ToolSpec]
    ) -> AsyncIterator[TextDelta | ToolCallRequested | Usage]:
        """Yield the scripted answer to the conversation so far, then its word counts."""
        prompt_tokens = sum(len(split_words(turn.content)) for turn in turns)
        last = turns[-1] if turns else None
        if last is not None and last.role == "tool":
            reply = _describe_tool_results(turns)
        elif last is not None and last.role == "user" and last.content.startswith(TOOL_PREFIX):
            call = _parse_tool_command(len(turns) - 1, last.content)
            yield call
            written = f"{call.tool} {json.dumps(call.arguments)}"
            yield Usage(prompt_tokens, len(split_words(written)))
            return
        else:
            reply = "Echo: " + _last_user_content(turns)
        words = split_words(reply)
        for index, word in enumerate(words):
            if index and self.token_delay_ms:
                await asyncio.sleep(self.token_delay_ms / 1000)
            yield TextDelta(word)
        yield Usage(prompt_tokens, len(words))

    async def aclose(self) -> None:
        """Release nothing; present so every provider can be closed the same way."""


def split_words(text: str) -> list[str]:
    """Split text into word deltas that keep their leading whitespace and rejoin exactly."""
    words = _WORD.findall(text)
    tail = text[sum(map(len, words)) :]
    if tail:
        words = [*words[:-1], words[-1] + tail] if words else [tail]
    return words


def scripted_call_id(index: int, content: str) -> str:
    """Return the deterministic call id for the tool command at turn `index`."""
    digest = hashlib.sha256(f"{index}:{content}".encode()).hexdigest()
    return "call_" + digest[:16]


def _parse_tool_command(index: int, content: str) -> ToolCallRequested:
    """Parse `/tool NAME {json-args}` into a tool-call request."""
    parts = content[len(TOOL_PREFIX) :].split(None, 1)
    if not parts:
        raise ProviderError("invalid_tool_command", "Usage: /tool NAME {json-args}")
    name = parts[0]
    raw_args = parts[1].strip() if len(parts) > 1 else ""
    arguments: Any = {}
    if raw_args:
        try:
            arguments = json.loads(raw_args)
        except ValueError as exc:
            raise ProviderError(
                "invalid_tool_arguments", f"Arguments for tool {name!r} are not valid JSON: {exc}"
            ) from exc
    if not isinstance(arguments, dict):
        raise ProviderError(
            "invalid_tool_arguments", f"Arguments for tool {name!r} must be a JSON object"
        )
    return ToolCallRequested(scripted_call_id(index, content), name, arguments)


def _describe_tool_results(turns: Sequence[ChatTurn]) -> str:
    """Describe the trailing tool turns, in order, one sentence each."""
    trailing: list[ChatTurn] = []
    for turn in reversed(turns):
        if turn.role != "tool":
            break
        trailing.append(turn)
    names = _call_names(turns)
    return "\n".join(_describe(turn, names) for turn in reversed(trailing))


def _describe(turn: ChatTurn, names: dict[str, str]) -> str:
    """Describe one tool turn's result or error."""
    decoded = decode_tool_result(turn.content)
    name = decoded.tool or names.get(turn.tool_call_id or "", "tool")
    if not decoded.ok:
        return f"Tool {name} failed: {decoded.error}"
    result = json.dumps(decoded.result, sort_keys=True, ensure_ascii=False)
    return f"Result of {name}: {result}"


def _call_names(turns: Sequence[ChatTurn]) -> dict[str, str]:
    """Map call ids to tool names from the assistant turns' tool calls."""
    names: dict[str, str] = {}
    for turn in turns:
        for call in turn.tool_calls or []:
            if isinstance(call.get("id"), str) and isinstance(call.get("name"), str):
                names[call["id"]] = call["name"]
    return names


def _last_user_content(turns: Sequence[ChatTurn]) -> str:
    """Return the content of the most recent user turn, or an empty string."""
    for turn in reversed(turns):
        if turn.role == "user":
            return turn.content
    return ""
