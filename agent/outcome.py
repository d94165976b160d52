"""The outcome of one tool execution."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agent.history import ChatTurn, tool_result_turn


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    """`ok` with a JSON-safe `result`, or not `ok` with a message in `error`."""

    ok: bool
    result: Any | None
    error: str | None

    @classmethod
    def success(cls, result: Any) -> ToolOutcome:
        """Return a successful outcome."""
        return cls(ok=True, result=result, error=None)

    @classmethod
    def failure(cls, error: str) -> ToolOutcome:
        """Return a failed outcome."""
        return cls(ok=False, result=None, error=error)

    def to_turn(self, call_id: str, tool: str) -> ChatTurn:
        """Return the tool turn that reports this outcome to the model."""
        if self.ok:
            return tool_result_turn(call_id, tool, result=self.result)
        return tool_result_turn(call_id, tool, error=self.error or "Tool failed")
