"""What a model round is sent: every tool call answered right after it, runs in start order."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID, uuid4

from agent import ChatTurn
from services.runs.agent import NO_RESULT_MESSAGE, to_turns
from tests.fake_openai import unanswered_tool_calls

CURRENT = uuid4()


def user(content: str, run: UUID | None = None) -> dict[str, Any]:
    return {
        "role": "user",
        "content": content,
        "tool_calls": None,
        "tool_call_id": None,
        "run_id": run,
    }


def assistant(content: str, run: UUID, *call_ids: str) -> dict[str, Any]:
    calls = [{"id": call_id, "name": "clock", "arguments": {}} for call_id in call_ids] or None
    return {
        "role": "assistant",
        "content": content,
        "tool_calls": calls,
        "tool_call_id": None,
        "run_id": run,
    }


def tool(call_id: str | None, run: UUID | None, content: str = "") -> dict[str, Any]:
    body = content or json.dumps({"ok": True, "result": call_id, "tool": "clock"})
    return {
        "role": "tool",
        "content": body,
        "tool_calls": None,
        "tool_call_id": call_id,
        "run_id": run,
    }


def shown(turns: list[ChatTurn]) -> list[str]:
    """Each turn as `role:content`, a tool turn as `tool:call_id`."""
    return [
        f"tool:{t.tool_call_id}" if t.role == "tool" else f"{t.role}:{t.content}" for t in turns
    ]


def assert_valid(turns: list[ChatTurn]) -> None:
    """The Chat Completions rule the fake server enforces holds."""
    wire = [
        {"role": t.role, "tool_call_id": t.tool_call_id, "tool_calls": t.tool_calls} for t in turns
    ]
    assert unanswered_tool_calls(wire) is None


def test_messages_stored_between_a_call_and_its_result_come_after_the_result() -> None:
    window = [
        user("time?", CURRENT),
        assistant("", CURRENT, "c1", "c2"),
        user("posted while waiting"),
        tool("c2", CURRENT),
        tool("c1", CURRENT),
    ]
    turns = to_turns(window, CURRENT)
    assert shown(turns) == [
        "user:time?",
        "assistant:",
        "tool:c1",
        "tool:c2",
        "user:posted while waiting",
    ]
    assert_valid(turns)


def test_a_call_without_a_result_gets_a_synthetic_one() -> None:
    earlier = uuid4()
    window = [user("time?", earlier), assistant("", earlier, "c1"), user("hello", CURRENT)]
    turns = to_turns(window, CURRENT)
    assert shown(turns) == ["user:time?", "assistant:", "tool:c1", "user:hello"]
    result = json.loads(turns[2].content)
    assert result == {"error": NO_RESULT_MESSAGE, "ok": False, "tool": "clock"}
    assert_valid(turns)


def test_results_answering_no_call_in_the_window_are_left_out() -> None:
    earlier = uuid4()
    window = [
        tool("gone", earlier),  # its call fell outside the window
        user("hi", CURRENT),
        tool(None, None, "posted as a tool message by a client"),
        assistant("", CURRENT, "c1"),
        tool("c1", CURRENT),
        tool("c1", CURRENT),  # a second answer
    ]
    turns = to_turns(window, CURRENT)
    assert shown(turns) == ["user:hi", "assistant:", "tool:c1"]
    assert_valid(turns)


def test_a_call_id_used_again_by_a_later_run_is_answered_by_its_own_result() -> None:
    earlier = uuid4()
    window = [
        user("time?", earlier),
        assistant("", earlier, "same"),
        tool("same", earlier, "first"),
        assistant("It is noon.", earlier),
        user("time?", CURRENT),
        assistant("", CURRENT, "same"),
        tool("same", CURRENT, "second"),
    ]
    turns = to_turns(window, CURRENT)
    assert [t.content for t in turns if t.role == "tool"] == ["first", "second"]
    assert_valid(turns)


def test_a_queued_input_is_read_after_the_replies_of_the_run_before_it() -> None:
    first, second = uuid4(), uuid4()
    window = [
        user("remember Oslo", first),
        assistant("", first, "c1"),
        user("and Bergen?", second),  # sent with on_busy=enqueue while `first` waited
        user("later, for the run after", CURRENT),  # queued too
        tool("c1", first),
        assistant("Remembered Oslo.", first),
        assistant("Bergen too.", second),
    ]
    turns = to_turns(window, CURRENT)
    assert shown(turns) == [
        "user:remember Oslo",
        "assistant:",
        "tool:c1",
        "assistant:Remembered Oslo.",
        "user:and Bergen?",
        "assistant:Bergen too.",
        "user:later, for the run after",
    ]
    assert_valid(turns)


def test_inputs_that_started_at_once_or_never_keep_their_place() -> None:
    cancelled_while_queued, earlier = uuid4(), uuid4()
    window = [
        user("hi", earlier),
        user("posted meanwhile"),
        assistant("Hello.", earlier),
        user("never started", cancelled_while_queued),
        user("go on", CURRENT),
    ]
    assert shown(to_turns(window, CURRENT)) == [
        "user:hi",
        "user:posted meanwhile",
        "assistant:Hello.",
        "user:never started",
        "user:go on",
    ]
