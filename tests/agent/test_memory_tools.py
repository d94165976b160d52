"""remember/recall touch the session context through ToolContext; clock tells UTC time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from agent import AgentRunner, ScriptedProvider, build_default_registry
from agent.tools.clock import clock_tool


def runner() -> AgentRunner:
    return AgentRunner(ScriptedProvider(0), build_default_registry(frozenset({"remember"})))


async def test_remember_then_recall(memory_context: Any) -> None:
    agent = runner()
    value = {"city": "Oslo", "tags": [1, None]}
    saved = await agent.execute_tool("remember", {"key": "home", "value": value}, memory_context)
    assert saved.ok and saved.result == {"key": "home", "value": value}
    assert memory_context.writes == [("home", value)]

    found = await agent.execute_tool("recall", {"key": "home"}, memory_context)
    assert found.result == {"key": "home", "value": value, "found": True}


async def test_recall_missing_key(memory_context: Any) -> None:
    outcome = await runner().execute_tool("recall", {"key": "nope"}, memory_context)
    assert outcome.result == {"key": "nope", "value": None, "found": False}


async def test_recall_distinguishes_stored_null(memory_context: Any) -> None:
    await memory_context.set_context_key("empty", None)
    outcome = await runner().execute_tool("recall", {"key": "empty"}, memory_context)
    assert outcome.result == {"key": "empty", "value": None, "found": True}


def test_remember_needs_approval_only_when_configured() -> None:
    assert build_default_registry(frozenset({"remember"})).needs_approval("remember")
    assert not build_default_registry(frozenset()).needs_approval("remember")


async def test_clock_returns_aware_iso_utc(memory_context: Any) -> None:
    outcome = await runner().execute_tool("clock", {}, memory_context)
    assert outcome.result is not None
    stamp = datetime.fromisoformat(outcome.result["utc"])
    assert stamp.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - stamp) < timedelta(minutes=1)


async def test_clock_converts_an_injected_time_to_utc(memory_context: Any) -> None:
    oslo = timezone(timedelta(hours=2))
    tool = clock_tool(now=lambda: datetime(2024, 5, 1, 14, 0, tzinfo=oslo))
    assert await tool.run({}, memory_context) == {"utc": "2024-05-01T12:00:00+00:00"}
