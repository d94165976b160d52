"""What a model or a tool hands over, made storable under the rules of `core.storable`.

A model's text keeps its meaning with the odd character replaced (U+FFFD), so
it is cleaned. A tool call's arguments are not guessed at: when they break a
rule the call is stored with empty arguments and fails with the reason, and
the tool never runs. A tool result that breaks a rule fails the call.
"""

from __future__ import annotations

import hashlib

from agent import AssistantMessage, RunError, ToolCallRequested, ToolOutcome, tool_call_dict
from core.storable import Unstorable, check_json, clean_text

# The width of the call id and tool name columns (models/tool_calls.py, messages, approvals).
MAX_CALL_ID = MAX_TOOL_NAME = 64


def storable_call(request: ToolCallRequested) -> tuple[ToolCallRequested, str | None]:
    """The call as stored, and why its arguments were refused (None if they were not).

    An id too long for its column is replaced by a digest of it (still unique in the
    round); a name too long is cut short, which leaves it an unknown tool.
    """
    call_id, tool = clean_text(request.call_id), clean_text(request.tool)
    if len(call_id) > MAX_CALL_ID:
        call_id = "call_" + hashlib.sha256(call_id.encode()).hexdigest()[:32]
    if len(tool) > MAX_TOOL_NAME:
        tool = tool[: MAX_TOOL_NAME - 1] + "…"
    try:
        check_json(request.arguments)
    except Unstorable as exc:
        return ToolCallRequested(call_id, tool, {}), f"Invalid arguments for {tool}: {exc}"
    return ToolCallRequested(call_id, tool, request.arguments), None


def storable_message(message: AssistantMessage) -> AssistantMessage:
    """The assistant message as stored: text cleaned, tool calls as `storable_call` stores them."""
    calls = None
    if message.tool_calls:
        calls = []
        for call in message.tool_calls:
            request = ToolCallRequested(call["id"], call["name"], call["arguments"])
            stored, _ = storable_call(request)
            calls.append(tool_call_dict(stored.call_id, stored.tool, stored.arguments))
    return AssistantMessage(clean_text(message.content), calls)


def storable_error(error: RunError) -> RunError:
    """A failed round's error with its message cleaned (it may quote the model's output)."""
    return RunError(error.code, clean_text(error.message))


def storable_outcome(tool: str, outcome: ToolOutcome) -> ToolOutcome:
    """The outcome as stored: a result that breaks a rule fails the call instead."""
    if not outcome.ok:
        return ToolOutcome.failure(clean_text(outcome.error or f"Tool {tool} failed"))
    try:
        check_json(outcome.result)
    except Unstorable as exc:
        return ToolOutcome.failure(f"Tool {tool} returned a result that cannot be stored: {exc}")
    return outcome
