"""`clock`: the current UTC time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from agent.tools.base import Tool, ToolContext, ToolSpec

PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}, "additionalProperties": False}


def _utc_now() -> datetime:
    """Return the aware current UTC time."""
    return datetime.now(UTC)


def clock_tool(requires_approval: bool = False, now: Callable[[], datetime] = _utc_now) -> Tool:
    """Build the clock tool; `now` is injectable for tests."""

    async def run(arguments: dict[str, Any], context: ToolContext) -> dict[str, Any]:
        """Return the current time as ISO-8601 UTC."""
        return {"utc": now().astimezone(UTC).isoformat()}

    spec = ToolSpec(
        name="clock",
        description="Return the current date and time in UTC (ISO-8601).",
        parameters=PARAMETERS,
        requires_approval=requires_approval,
        side_effects=False,
    )
    return Tool(spec=spec, handler=run)
