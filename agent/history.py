"""Plain-data conversation turns the runner reads (services build them from stored messages).

Tool calls on an assistant turn are provider-neutral dicts:
`{"id": call_id, "name": tool, "arguments": {...}}` (see `tool_call_dict`).
A tool turn's content is the JSON object written by `tool_result_turn`:
`{"tool": name, "ok": true, "result": ...}` or `{"tool": name, "ok": false, "error": "..."}`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ChatTurn:
    """One message of the conversation as the model sees it."""

    role: str
    content: str
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None


@dataclass(frozen=True, slots=True)
class ToolResult:
    """A decoded tool turn."""

    tool: str | None
    ok: bool
    result: Any
    error: str | None


def tool_call_dict(call_id: str, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """Return the stored form of one tool call on an assistant turn."""
    return {"id": call_id, "name": tool, "arguments": arguments}


def encode_tool_result(tool: str, *, result: Any = None, error: str | None = None) -> str:
    """Return the canonical JSON content of a tool turn (deterministic: sorted keys)."""
    body: dict[str, Any] = {"tool": tool, "ok": error is None}
    if error is None:
        body["result"] = result
    else:
        body["error"] = error
    return json.dumps(body, sort_keys=True, ensure_ascii=False)


def tool_result_turn(
    call_id: str, tool: str, *, result: Any = None, error: str | None = None
) -> ChatTurn:
    """Build the tool turn that answers `call_id` with a result or an error."""
    content = encode_tool_result(tool, result=result, error=error)
    return ChatTurn(role="tool", content=content, tool_call_id=call_id)


def decode_tool_result(content: str) -> ToolResult:
    """Decode a tool turn's content; content not written by `encode_tool_result` is a result."""
    try:
        body = json.loads(content)
    except ValueError:
        return ToolResult(tool=None, ok=True, result=content, error=None)
    if not isinstance(body, dict) or ("result" not in body and "error" not in body):
        return ToolResult(tool=None, ok=True, result=body, error=None)
    tool = body.get("tool")
    tool_name = tool if isinstance(tool, str) else None
    if "error" in body and body.get("ok") is not True:
        return ToolResult(tool=tool_name, ok=False, result=None, error=str(body["error"]))
    return ToolResult(tool=tool_name, ok=True, result=body.get("result"), error=None)


def pending_tool_calls(turns: Sequence[ChatTurn]) -> list[dict[str, Any]]:
    """Return the last assistant turn's tool calls that no later tool turn answers."""
    answered: set[str] = set()
    for turn in reversed(turns):
        if turn.role == "tool" and turn.tool_call_id is not None:
            answered.add(turn.tool_call_id)
        elif turn.role == "assistant":
            return [call for call in turn.tool_calls or [] if call.get("id") not in answered]
        else:
            return []
    return []
