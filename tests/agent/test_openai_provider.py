"""OpenAIProvider against a real local HTTP server speaking the streaming wire format."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from agent import (
    AgentRunner,
    AssistantMessage,
    ChatTurn,
    OpenAIProvider,
    ProviderError,
    RunError,
    RunFinished,
    TextDelta,
    ToolCallRequested,
    ToolContext,
    Usage,
    build_default_registry,
)
from agent.tools.base import ToolSpec


def chunk(
    content: str | None = None,
    tool_calls: list[dict[str, Any]] | None = None,
    finish_reason: str | None = None,
    role: str | None = None,
) -> dict[str, Any]:
    """Build one `chat.completion.chunk` object."""
    delta: dict[str, Any] = {}
    if role is not None:
        delta["role"] = role
    if content is not None:
        delta["content"] = content
    if tool_calls is not None:
        delta["tool_calls"] = tool_calls
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "fake-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }


@pytest.fixture
async def provider(fake_openai: Any) -> AsyncIterator[OpenAIProvider]:
    provider = OpenAIProvider(
        fake_openai.base_url, "test-key", "fake-model", timeout_seconds=5, max_retries=0
    )
    try:
        yield provider
    finally:
        await provider.aclose()


async def collect(
    provider: OpenAIProvider, turns: Sequence[ChatTurn], tools: Sequence[ToolSpec] = ()
) -> list[Any]:
    return [item async for item in provider.stream(turns, tools)]


def fragment(
    index: int, call_id: str | None = None, name: str | None = None, args: str | None = None
) -> dict[str, Any]:
    function: dict[str, Any] = {}
    if name is not None:
        function["name"] = name
    if args is not None:
        function["arguments"] = args
    body: dict[str, Any] = {"index": index, "function": function}
    if call_id is not None:
        body |= {"id": call_id, "type": "function"}
    return body


async def test_streams_text_deltas(fake_openai: Any, provider: OpenAIProvider) -> None:
    fake_openai.reply(
        [
            chunk(role="assistant", content=""),
            chunk(content="Hel"),
            chunk(content="lo"),
            chunk(content=" world"),
            chunk(finish_reason="stop"),
        ]
    )
    items = await collect(provider, [ChatTurn("system", "be brief"), ChatTurn("user", "hi")])
    assert items == [TextDelta("Hel"), TextDelta("lo"), TextDelta(" world")]

    request = fake_openai.requests[0]
    assert request["model"] == "fake-model"
    assert request["stream"] is True
    assert "tools" not in request
    assert request["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
    ]
    assert fake_openai.headers[0]["authorization"] == "Bearer test-key"


async def test_streamed_tool_call_fragments_are_joined(
    fake_openai: Any, provider: OpenAIProvider
) -> None:
    fake_openai.reply(
        [
            chunk(role="assistant", content="Working."),
            chunk(tool_calls=[fragment(0, "call_abc", "calculator", "")]),
            chunk(tool_calls=[fragment(0, args='{"expre')]),
            chunk(tool_calls=[fragment(0, args='ssion": "1+1"}')]),
            chunk(tool_calls=[fragment(1, "call_def", "clock", "")]),
            chunk(tool_calls=[fragment(1, args="{}")]),
            chunk(finish_reason="tool_calls"),
        ]
    )
    specs = build_default_registry(frozenset()).specs()
    items = await collect(provider, [ChatTurn("user", "add")], specs)
    assert items == [
        TextDelta("Working."),
        ToolCallRequested("call_abc", "calculator", {"expression": "1+1"}),
        ToolCallRequested("call_def", "clock", {}),
    ]
    tools = fake_openai.requests[0]["tools"]
    assert [tool["function"]["name"] for tool in tools] == [spec.name for spec in specs]
    assert tools[0]["type"] == "function"
    assert tools[0]["function"]["parameters"] == specs[0].parameters


async def test_tool_call_without_id_gets_a_stable_one(
    fake_openai: Any, provider: OpenAIProvider
) -> None:
    chunks = [chunk(tool_calls=[fragment(0, name="clock", args="")]), chunk(finish_reason="stop")]
    fake_openai.reply(chunks)
    fake_openai.reply(chunks)
    first = await collect(provider, [ChatTurn("user", "time?")])
    second = await collect(provider, [ChatTurn("user", "time?")])
    assert first == second
    assert first[0].call_id.startswith("call_") and first[0].arguments == {}


async def test_invalid_tool_arguments_from_the_model(
    fake_openai: Any, provider: OpenAIProvider
) -> None:
    fake_openai.reply([chunk(tool_calls=[fragment(0, "c1", "calculator", "{nope")])])
    with pytest.raises(ProviderError) as info:
        await collect(provider, [ChatTurn("user", "x")])
    assert info.value.code == "invalid_tool_arguments"


async def test_http_500_is_a_provider_error(fake_openai: Any, provider: OpenAIProvider) -> None:
    fake_openai.reply(status=500)
    with pytest.raises(ProviderError) as info:
        await collect(provider, [ChatTurn("user", "x")])
    assert info.value.code == "provider_error"
    assert "500" in info.value.message
    assert len(fake_openai.requests) == 1  # max_retries=0


@pytest.mark.parametrize(
    ("body", "kept"),
    [
        ({"detail": "model llama9 is not loaded"}, '{"detail":"model llama9 is not loaded"}'),
        ("upstream\n  worker crashed", "upstream worker crashed"),
    ],
)
async def test_the_error_body_is_kept_and_logged(
    fake_openai: Any,
    provider: OpenAIProvider,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    body: Any,
    kept: str,
) -> None:
    fake_openai.reply(status=500, error_body=body)
    # The app's logging setup stops `terrapin` records at its own handler; caplog is on the root.
    monkeypatch.setattr(logging.getLogger("terrapin"), "propagate", True)
    with pytest.raises(ProviderError) as info:
        await collect(provider, [ChatTurn("user", "x")])
    assert info.value.message == f"The model provider answered HTTP 500: {kept}"
    assert any(kept in record.getMessage() for record in caplog.records)


async def test_a_long_error_body_is_truncated(fake_openai: Any, provider: OpenAIProvider) -> None:
    fake_openai.reply(status=502, error_body="x" * 5000)
    with pytest.raises(ProviderError) as info:
        await collect(provider, [ChatTurn("user", "x")])
    assert info.value.message.startswith("The model provider answered HTTP 502: xxx")
    assert info.value.message.endswith("…")
    assert len(info.value.message) < 600


async def test_retries_recover_from_a_500(fake_openai: Any) -> None:
    fake_openai.reply(status=500)
    fake_openai.reply([chunk(content="ok")])
    provider = OpenAIProvider(fake_openai.base_url, None, "m", timeout_seconds=5, max_retries=1)
    try:
        assert await collect(provider, [ChatTurn("user", "x")]) == [TextDelta("ok")]
    finally:
        await provider.aclose()
    assert len(fake_openai.requests) == 2
    assert fake_openai.headers[0]["authorization"] == "Bearer not-needed"


@pytest.mark.parametrize("delay", ["delay_before_headers", "delay_before_body"])
async def test_slow_server_times_out(fake_openai: Any, delay: str) -> None:
    fake_openai.reply([chunk(content="late")], **{delay: 10})
    provider = OpenAIProvider(fake_openai.base_url, "k", "m", timeout_seconds=0.3, max_retries=0)
    started = time.monotonic()
    try:
        with pytest.raises(ProviderError) as info:
            await collect(provider, [ChatTurn("user", "x")])
    finally:
        await provider.aclose()
    assert info.value.code == "provider_timeout"
    assert time.monotonic() - started < 5


async def test_a_hung_server_fails_within_one_budget_whatever_the_retries(
    fake_openai: Any,
) -> None:
    for _ in range(5):  # every attempt hangs: the server answers nothing
        fake_openai.reply([chunk(content="never")], delay_before_headers=60)
    provider = OpenAIProvider(fake_openai.base_url, "k", "m", timeout_seconds=1.5, max_retries=4)
    started = time.monotonic()
    try:
        with pytest.raises(ProviderError) as info:
            await collect(provider, [ChatTurn("user", "x")])
    finally:
        await provider.aclose()
    assert info.value.code == "provider_timeout"
    # One budget, not one per attempt (five attempts and their backoff took over 10 s).
    assert time.monotonic() - started < 6


async def test_the_budget_covers_the_wait_for_the_first_piece(fake_openai: Any) -> None:
    # Headers and the first chunk each come within the timeout, but not both together.
    fake_openai.reply([chunk(content="late")], delay_before_headers=0.7, delay_before_body=0.7)
    provider = OpenAIProvider(fake_openai.base_url, "k", "m", timeout_seconds=1, max_retries=0)
    try:
        with pytest.raises(ProviderError) as info:
            await collect(provider, [ChatTurn("user", "x")])
    finally:
        await provider.aclose()
    assert info.value.code == "provider_timeout"


async def test_a_slow_reader_does_not_use_up_the_budget(fake_openai: Any) -> None:
    fake_openai.reply([chunk(content="a"), chunk(content="b"), chunk(content="c")])
    provider = OpenAIProvider(fake_openai.base_url, "k", "m", timeout_seconds=0.5, max_retries=0)
    received = []
    try:
        async for item in provider.stream([ChatTurn("user", "x")], []):
            received.append(item)
            await asyncio.sleep(0.6)  # the caller's own work between two pieces
    finally:
        await provider.aclose()
    assert received == [TextDelta("a"), TextDelta("b"), TextDelta("c")]


async def test_unreachable_server_is_a_provider_error() -> None:
    provider = OpenAIProvider("http://127.0.0.1:9/v1", "k", "m", timeout_seconds=2, max_retries=0)
    try:
        with pytest.raises(ProviderError) as info:
            await collect(provider, [ChatTurn("user", "x")])
    finally:
        await provider.aclose()
    assert info.value.code == "provider_error"


async def test_unsupported_role_is_a_history_error(provider: OpenAIProvider) -> None:
    with pytest.raises(ProviderError) as info:
        await collect(provider, [ChatTurn("narrator", "x")])
    assert info.value.code == "invalid_history"


async def test_runner_round_trip_over_http(
    fake_openai: Any, provider: OpenAIProvider, memory_context: ToolContext
) -> None:
    fake_openai.reply(
        [
            chunk(tool_calls=[fragment(0, "call_1", "calculator", '{"expression": "6*7"}')]),
            chunk(finish_reason="tool_calls"),
        ]
    )
    fake_openai.reply([chunk(content="It is "), chunk(content="42."), chunk(finish_reason="stop")])
    agent = AgentRunner(provider, build_default_registry(frozenset({"remember"})))
    turns = [ChatTurn("user", "what is 6*7?")]

    message, call = [event async for event in agent.step(turns)]
    assert isinstance(message, AssistantMessage) and isinstance(call, ToolCallRequested)
    outcome = await agent.execute_tool(call.tool, call.arguments, memory_context)
    turns += [
        ChatTurn("assistant", message.content, tool_calls=message.tool_calls),
        outcome.to_turn(call.call_id, call.tool),
    ]
    events = [event async for event in agent.step(turns)]
    assert events == [
        TextDelta("It is "),
        TextDelta("42."),
        AssistantMessage("It is 42.", None),
        RunFinished(),
    ]

    sent = fake_openai.requests[1]["messages"]
    assert sent[1] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "calculator", "arguments": '{"expression": "6*7"}'},
            }
        ],
    }
    assert sent[2]["role"] == "tool" and sent[2]["tool_call_id"] == "call_1"
    assert '"result": 42' in sent[2]["content"]


async def test_runner_turns_http_errors_into_run_error(
    fake_openai: Any, provider: OpenAIProvider
) -> None:
    fake_openai.reply(status=503)
    agent = AgentRunner(provider, build_default_registry(frozenset()))
    events = [event async for event in agent.step([ChatTurn("user", "x")])]
    body = '{"error":{"message":"boom","type":"server_error","code":null}}'
    assert events == [RunError("provider_error", f"The model provider answered HTTP 503: {body}")]


async def test_the_fake_server_rejects_an_unanswered_tool_call_like_the_real_api(
    fake_openai: Any, provider: OpenAIProvider
) -> None:
    call = {"id": "call_1", "name": "clock", "arguments": {}}
    turns = [
        ChatTurn("user", "time?"),
        ChatTurn("assistant", "", tool_calls=[call]),
        ChatTurn("user", "hello?"),
    ]
    with pytest.raises(ProviderError) as info:
        await collect(provider, turns)
    assert info.value.message.startswith("The model provider answered HTTP 400")
    assert "call_1" in fake_openai.rejected[0]


async def test_usage_is_asked_for_and_reported_last(
    fake_openai: Any, provider: OpenAIProvider
) -> None:
    usage_chunk = {
        **chunk(),
        "choices": [],
        "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
    }
    fake_openai.reply(
        [
            chunk(tool_calls=[fragment(0, "call_1", "clock", "{}")]),
            chunk(finish_reason="tool_calls"),
            usage_chunk,
        ]
    )
    items = await collect(provider, [ChatTurn("user", "time?")])
    assert items == [ToolCallRequested("call_1", "clock", {}), Usage(12, 3)]
    assert fake_openai.requests[0]["stream_options"] == {"include_usage": True}

    fake_openai.reply([chunk(content="no usage from this server")])
    assert await collect(provider, [ChatTurn("user", "x")]) == [
        TextDelta("no usage from this server")
    ]


async def test_a_provider_for_another_model_shares_the_client(
    fake_openai: Any, provider: OpenAIProvider
) -> None:
    other = provider.for_model("other-model")
    fake_openai.reply([chunk(content="hi")])
    assert await collect(other, [ChatTurn("user", "x")]) == [TextDelta("hi")]
    assert fake_openai.requests[0]["model"] == "other-model"
    assert provider.model == "fake-model"
    assert other._client is provider._client  # one connection pool for every model
