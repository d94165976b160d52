"""The scripted provider: echo, tool commands and tool-result answers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agent import ChatTurn, ProviderError, ScriptedProvider, TextDelta, ToolCallRequested, Usage
from agent.history import tool_call_dict, tool_result_turn


async def stream(provider: ScriptedProvider, turns: list[ChatTurn]) -> list[Any]:
    return [item async for item in provider.stream(turns, [])]


async def collect(provider: ScriptedProvider, turns: list[ChatTurn]) -> list[Any]:
    """What the model writes: the items before its closing usage report."""
    items = await stream(provider, turns)
    assert isinstance(items[-1], Usage)
    return items[:-1]


async def test_usage_counts_words_read_and_written() -> None:
    turns = [ChatTurn("system", "be very brief"), ChatTurn("user", "hello there world")]
    items = await stream(ScriptedProvider(0), turns)
    # "Echo: hello there world" is four words; the turns hold six.
    assert items[-1] == Usage(prompt_tokens=6, completion_tokens=4)
    assert [type(item) for item in items] == [TextDelta] * 4 + [Usage]

    command = ChatTurn("user", '/tool calculator {"expression": "6 * 7"}')
    call, usage = await stream(ScriptedProvider(0), [command])
    assert isinstance(call, ToolCallRequested)
    # The call is written as its name and JSON arguments: calculator {"expression": "6 * 7"}.
    assert usage == Usage(prompt_tokens=6, completion_tokens=5)


async def test_echo_streams_one_delta_per_word() -> None:
    items = await collect(ScriptedProvider(0), [ChatTurn("user", "hello world")])
    assert items == [TextDelta("Echo:"), TextDelta(" hello"), TextDelta(" world")]


@pytest.mark.parametrize(
    "message", ["hello world", "  spaced   out  ", "tabs\tand\nnewlines\n", "", "one", "ünï cødé ✓"]
)
async def test_echo_deltas_concatenate_to_exact_reply(message: str) -> None:
    items = await collect(ScriptedProvider(0), [ChatTurn("user", message)])
    assert all(isinstance(item, TextDelta) and item.text for item in items)
    assert "".join(item.text for item in items) == "Echo: " + message


async def test_echo_quotes_last_user_turn() -> None:
    turns = [
        ChatTurn("system", "be nice"),
        ChatTurn("user", "first"),
        ChatTurn("assistant", "Echo: first"),
        ChatTurn("user", "second"),
    ]
    items = await collect(ScriptedProvider(0), turns)
    assert "".join(item.text for item in items) == "Echo: second"


async def test_delay_sleeps_between_words_only(monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps: list[float] = []
    real_sleep = asyncio.sleep

    async def record(seconds: float) -> None:
        sleeps.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", record)
    await collect(ScriptedProvider(25), [ChatTurn("user", "a b c")])
    assert sleeps == [0.025, 0.025, 0.025]
    sleeps.clear()
    await collect(ScriptedProvider(0), [ChatTurn("user", "a b c")])
    assert sleeps == []


def test_negative_delay_is_refused() -> None:
    with pytest.raises(ValueError):
        ScriptedProvider(-1)


async def test_tool_command_yields_one_call() -> None:
    turns = [ChatTurn("user", '/tool calculator {"expression": "2*(3+4)"}')]
    items = await collect(ScriptedProvider(0), turns)
    assert len(items) == 1
    call = items[0]
    assert isinstance(call, ToolCallRequested)
    assert (call.tool, call.arguments) == ("calculator", {"expression": "2*(3+4)"})
    assert call.call_id.startswith("call_")


async def test_tool_call_id_is_deterministic() -> None:
    turns = [ChatTurn("user", "/tool clock")]
    first, second = (
        await collect(ScriptedProvider(0), turns),
        await collect(ScriptedProvider(0), turns),
    )
    assert first == second
    other = await collect(ScriptedProvider(0), [ChatTurn("user", "x"), *turns])
    assert other[0].call_id != first[0].call_id


@pytest.mark.parametrize(
    "command", ["/tool clock", "/tool clock   ", "/tool clock {}", "/tool clock\n{}"]
)
async def test_tool_arguments_default_to_empty_object(command: str) -> None:
    items = await collect(ScriptedProvider(0), [ChatTurn("user", command)])
    assert (items[0].tool, items[0].arguments) == ("clock", {})


async def test_tool_prefix_needs_a_space() -> None:
    items = await collect(ScriptedProvider(0), [ChatTurn("user", "/toolclock")])
    assert "".join(item.text for item in items) == "Echo: /toolclock"


@pytest.mark.parametrize(
    ("command", "code"),
    [
        ("/tool calculator {not json", "invalid_tool_arguments"),
        ('/tool calculator ["a"]', "invalid_tool_arguments"),
        ("/tool    ", "invalid_tool_command"),
    ],
)
async def test_bad_tool_commands_raise(command: str, code: str) -> None:
    with pytest.raises(ProviderError) as info:
        await collect(ScriptedProvider(0), [ChatTurn("user", command)])
    assert info.value.code == code
    assert str(info.value)


async def test_unknown_tool_is_not_the_providers_concern() -> None:
    items = await collect(ScriptedProvider(0), [ChatTurn("user", "/tool nope {}")])
    assert items[0].tool == "nope"


async def test_tool_result_is_described() -> None:
    call = tool_call_dict("call_1", "calculator", {"expression": "1+1"})
    turns = [
        ChatTurn("user", "/tool calculator"),
        ChatTurn("assistant", "", tool_calls=[call]),
        tool_result_turn("call_1", "calculator", result={"result": 2, "expression": "1+1"}),
    ]
    items = await collect(ScriptedProvider(0), turns)
    text = "".join(item.text for item in items)
    assert text == 'Result of calculator: {"expression": "1+1", "result": 2}'


async def test_tool_error_is_described() -> None:
    turns = [
        ChatTurn("user", "/tool remember"),
        tool_result_turn("call_1", "remember", error="Rejected by reviewer: no"),
    ]
    items = await collect(ScriptedProvider(0), turns)
    assert "".join(item.text for item in items) == "Tool remember failed: Rejected by reviewer: no"


async def test_foreign_tool_content_uses_name_from_assistant_turn() -> None:
    turns = [
        ChatTurn("assistant", "", tool_calls=[tool_call_dict("c9", "clock", {})]),
        ChatTurn("tool", "plain text", tool_call_id="c9"),
    ]
    items = await collect(ScriptedProvider(0), turns)
    assert "".join(item.text for item in items) == 'Result of clock: "plain text"'


async def test_aclose_is_harmless() -> None:
    await ScriptedProvider(0).aclose()
