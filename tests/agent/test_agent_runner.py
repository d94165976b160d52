"""AgentRunner: one round per step, tools on request, resumable from turns alone."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from agent import (
    AgentRunner,
    AssistantMessage,
    ChatTurn,
    Event,
    InvalidToolArguments,
    ProviderError,
    RunError,
    RunFinished,
    ScriptedProvider,
    TextDelta,
    Tool,
    ToolCallRequested,
    ToolContext,
    ToolFailed,
    ToolRegistry,
    ToolSpec,
    UnknownTool,
    Usage,
    build_default_registry,
    builtin_tools,
)

APPROVAL = frozenset({"remember"})


def runner(max_tool_rounds: int = 8) -> AgentRunner:
    return AgentRunner(ScriptedProvider(0), build_default_registry(APPROVAL), max_tool_rounds)


async def step(agent: AgentRunner, turns: Sequence[ChatTurn]) -> list[Event]:
    return [event async for event in agent.step(turns)]


def text_of(events: list[Event]) -> str:
    return "".join(event.text for event in events if isinstance(event, TextDelta))


async def test_echo_round_streams_then_finishes() -> None:
    events = await step(runner(), [ChatTurn("user", "hi there")])
    assert events == [
        TextDelta("Echo:"),
        TextDelta(" hi"),
        TextDelta(" there"),
        Usage(prompt_tokens=2, completion_tokens=3),
        AssistantMessage(content="Echo: hi there", tool_calls=None),
        RunFinished(),
    ]


async def test_calculator_round_trip(memory_context: ToolContext) -> None:
    turns = [ChatTurn("user", '/tool calculator {"expression":"2*(3+4)"}')]
    events = await step(runner(), turns)
    usage, message, call = events
    assert isinstance(usage, Usage)
    assert isinstance(message, AssistantMessage) and isinstance(call, ToolCallRequested)
    assert call.tool == "calculator" and call.arguments == {"expression": "2*(3+4)"}
    assert message.tool_calls == [
        {"id": call.call_id, "name": "calculator", "arguments": {"expression": "2*(3+4)"}}
    ]

    outcome = await runner().execute_tool(call.tool, call.arguments, memory_context)
    assert outcome.ok and outcome.result == {"expression": "2*(3+4)", "result": 14}
    turns += [
        ChatTurn("assistant", message.content, tool_calls=message.tool_calls),
        outcome.to_turn(call.call_id, call.tool),
    ]

    # A fresh runner resumes from the persisted turns alone.
    events = await step(runner(), turns)
    assert "14" in text_of(events)
    assert events[-2] == AssistantMessage(content=text_of(events), tool_calls=None)
    assert events[-1] == RunFinished()


async def test_invalid_json_arguments_end_in_run_error() -> None:
    events = await step(runner(), [ChatTurn("user", "/tool calculator {oops")])
    assert len(events) == 1
    assert isinstance(events[0], RunError)
    assert events[0].code == "invalid_tool_arguments"
    assert "calculator" in events[0].message


async def test_unknown_tool_fails_cleanly(memory_context: ToolContext) -> None:
    turns = [ChatTurn("user", "/tool teleport {}")]
    *_, call = await step(runner(), turns)
    assert isinstance(call, ToolCallRequested) and call.tool == "teleport"
    outcome = await runner().execute_tool(call.tool, call.arguments, memory_context)
    assert not outcome.ok and outcome.result is None
    assert outcome.error == "Unknown tool: 'teleport'"
    turns += [
        ChatTurn("assistant", "", tool_calls=[{"id": call.call_id, "name": "teleport"}]),
        outcome.to_turn(call.call_id, call.tool),
    ]
    events = await step(runner(), turns)
    assert text_of(events) == "Tool teleport failed: Unknown tool: 'teleport'"
    assert events[-1] == RunFinished()


async def test_invalid_arguments_are_reported_not_run(memory_context: ToolContext) -> None:
    outcome = await runner().execute_tool("remember", {"key": ""}, memory_context)
    assert not outcome.ok
    assert outcome.error is not None and "'value' is a required property" in outcome.error
    assert memory_context.writes == []  # type: ignore[attr-defined]


async def test_tool_failed_becomes_its_message(memory_context: ToolContext) -> None:
    outcome = await runner().execute_tool("calculator", {"expression": "1/0"}, memory_context)
    assert (outcome.ok, outcome.error) == (False, "Division by zero")


def custom_runner(handler: Any, provider: Any = None) -> AgentRunner:
    spec = ToolSpec("custom", "test tool", {"type": "object"}, requires_approval=False)
    registry = ToolRegistry([Tool(spec, handler)])
    return AgentRunner(provider or ScriptedProvider(0), registry)


async def test_unexpected_exception_gets_a_generic_message(memory_context: ToolContext) -> None:
    async def boom(arguments: dict[str, Any], context: ToolContext) -> Any:
        raise RuntimeError("secret internals")

    outcome = await custom_runner(boom).execute_tool("custom", {}, memory_context)
    assert (outcome.ok, outcome.error) == (False, "Tool custom failed unexpectedly")


async def test_tool_failed_without_message(memory_context: ToolContext) -> None:
    async def fail(arguments: dict[str, Any], context: ToolContext) -> Any:
        raise ToolFailed()

    outcome = await custom_runner(fail).execute_tool("custom", {}, memory_context)
    assert outcome.error == "Tool custom failed"


async def test_non_json_result_is_a_failure(memory_context: ToolContext) -> None:
    async def odd(arguments: dict[str, Any], context: ToolContext) -> Any:
        return {"value": object()}

    outcome = await custom_runner(odd).execute_tool("custom", {}, memory_context)
    assert not outcome.ok and "not JSON" in (outcome.error or "")


async def test_rejection_turn_is_answered() -> None:
    turns = [
        ChatTurn("user", '/tool remember {"key": "k", "value": 1}'),
        ChatTurn("assistant", "", tool_calls=[{"id": "c1", "name": "remember", "arguments": {}}]),
        ChatTurn(
            "tool", '{"tool": "remember", "ok": false, "error": "Rejected: no"}', tool_call_id="c1"
        ),
    ]
    events = await step(runner(), turns)
    assert text_of(events) == "Tool remember failed: Rejected: no"


class FakeProvider:
    """A provider test double that replays a fixed script and records its calls."""

    def __init__(self, items: list[TextDelta | ToolCallRequested | Usage | Exception]) -> None:
        self.items = items
        self.seen_tools: list[list[str]] = []
        self.seen_turns: list[list[ChatTurn]] = []
        self.closed = False

    async def stream(
        self, turns: Sequence[ChatTurn], tools: Sequence[ToolSpec]
    ) -> AsyncIterator[TextDelta | ToolCallRequested | Usage]:
        self.seen_tools.append([spec.name for spec in tools])
        self.seen_turns.append(list(turns))
        try:
            for item in self.items:
                if isinstance(item, Exception):
                    raise item
                yield item
        finally:
            self.closed = True


async def test_provider_error_after_deltas_yields_run_error() -> None:
    provider = FakeProvider(
        [TextDelta("par"), TextDelta("tial"), ProviderError("provider_timeout", "slow")]
    )
    events = await step(
        AgentRunner(provider, build_default_registry(APPROVAL)), [ChatTurn("user", "x")]
    )
    assert events == [TextDelta("par"), TextDelta("tial"), RunError("provider_timeout", "slow")]
    assert provider.closed


async def test_several_tool_calls_stop_the_round() -> None:
    calls = [
        ToolCallRequested("a", "clock", {}),
        ToolCallRequested("b", "recall", {"key": "k"}),
    ]
    provider = FakeProvider([TextDelta("Let me check."), *calls])
    events = await step(
        AgentRunner(provider, build_default_registry(APPROVAL)), [ChatTurn("user", "x")]
    )
    assert events == [
        TextDelta("Let me check."),
        AssistantMessage(
            content="Let me check.",
            tool_calls=[
                {"id": "a", "name": "clock", "arguments": {}},
                {"id": "b", "name": "recall", "arguments": {"key": "k"}},
            ],
        ),
        *calls,
    ]


async def test_tool_rounds_are_bounded() -> None:
    provider = FakeProvider([ToolCallRequested("a", "clock", {})])
    agent = AgentRunner(provider, build_default_registry(APPROVAL), max_tool_rounds=1)
    turns = [ChatTurn("user", "x")]
    assert isinstance((await step(agent, turns))[-1], ToolCallRequested)
    turns += [
        ChatTurn("assistant", "", tool_calls=[{"id": "a", "name": "clock", "arguments": {}}]),
        ChatTurn("tool", "{}", tool_call_id="a"),
    ]
    events = await step(agent, turns)
    assert events == [RunError("tool_rounds_exceeded", events[0].message)]  # type: ignore[union-attr]
    assert provider.seen_tools == [["calculator", "clock", "remember", "recall"], []]


async def test_abandoned_step_closes_the_provider_stream() -> None:
    provider = FakeProvider([TextDelta("a"), TextDelta("b"), TextDelta("c")])
    agent = AgentRunner(provider, build_default_registry(APPROVAL))
    events = agent.step([ChatTurn("user", "x")])
    assert await anext(events) == TextDelta("a")
    await events.aclose()  # type: ignore[attr-defined]
    assert provider.closed


def test_negative_max_tool_rounds_is_refused() -> None:
    with pytest.raises(ValueError):
        runner(max_tool_rounds=-1)


async def test_instructions_lead_as_the_system_turn_and_usage_passes_through() -> None:
    provider = FakeProvider([TextDelta("ok"), Usage(prompt_tokens=7, completion_tokens=1)])
    agent = AgentRunner(provider, build_default_registry(APPROVAL), instructions="Be terse.")
    turns = [ChatTurn("system", "from the history"), ChatTurn("user", "x")]
    events = await step(agent, turns)
    assert provider.seen_turns == [[ChatTurn("system", "Be terse."), *turns]]
    assert events == [
        TextDelta("ok"),
        Usage(prompt_tokens=7, completion_tokens=1),
        AssistantMessage(content="ok", tool_calls=None),
        RunFinished(),
    ]
    # Without instructions the turns go as they are.
    plain = FakeProvider([TextDelta("ok")])
    await step(AgentRunner(plain, build_default_registry(APPROVAL)), turns)
    assert plain.seen_turns == [turns]


def test_client_tools_are_offered_and_validated_but_not_run_here() -> None:
    location = ToolSpec(
        "get_location",
        "Where the user is.",
        {"type": "object", "properties": {"precision": {"enum": ["city", "street"]}}},
    )
    catalog = ToolRegistry(builtin_tools())
    registry = catalog.select(["clock", "remember"], ["remember"], [location])
    assert registry.names() == ["clock", "remember", "get_location"]
    assert [spec.name for spec in registry.specs()] == ["clock", "remember", "get_location"]
    assert registry.knows("get_location") and registry.runs_on_client("get_location")
    assert registry.get("get_location") is None  # nothing to run on the server
    assert registry.needs_approval("remember") and not registry.needs_approval("clock")
    assert not catalog.needs_approval("remember")  # the policy is the selection's own
    registry.validate("get_location", {"precision": "city"})
    with pytest.raises(InvalidToolArguments):
        registry.validate("get_location", {"precision": "planet"})
    with pytest.raises(UnknownTool):
        catalog.select(["teleport"])
    with pytest.raises(ValueError, match="already registered"):
        catalog.select(["clock"], client_tools=[dataclasses.replace(location, name="clock")])
