"""Tool-turn encoding and helpers for resuming from persisted turns."""

from __future__ import annotations

import json

from agent import (
    ChatTurn,
    ToolOutcome,
    decode_tool_result,
    encode_tool_result,
    pending_tool_calls,
    tool_rounds,
)


def test_tool_results_round_trip() -> None:
    content = encode_tool_result("calculator", result={"result": 2})
    assert json.loads(content) == {"tool": "calculator", "ok": True, "result": {"result": 2}}
    decoded = decode_tool_result(content)
    assert (decoded.tool, decoded.ok, decoded.result, decoded.error) == (
        "calculator",
        True,
        {"result": 2},
        None,
    )
    failed = decode_tool_result(encode_tool_result("remember", error="Rejected"))
    assert (failed.tool, failed.ok, failed.error) == ("remember", False, "Rejected")


def test_foreign_tool_content_is_a_result() -> None:
    assert decode_tool_result("not json").result == "not json"
    assert decode_tool_result("[1, 2]").result == [1, 2]
    assert decode_tool_result('{"a": 1}').result == {"a": 1}


def test_outcome_to_turn() -> None:
    turn = ToolOutcome.failure("nope").to_turn("c1", "clock")
    assert (turn.role, turn.tool_call_id) == ("tool", "c1")
    assert json.loads(turn.content) == {"tool": "clock", "ok": False, "error": "nope"}
    ok = ToolOutcome.success(None).to_turn("c2", "clock")
    assert json.loads(ok.content) == {"tool": "clock", "ok": True, "result": None}


def test_pending_tool_calls() -> None:
    calls = [{"id": "a", "name": "clock"}, {"id": "b", "name": "recall"}]
    turns = [ChatTurn("user", "x"), ChatTurn("assistant", "", tool_calls=calls)]
    assert pending_tool_calls(turns) == calls
    turns.append(ChatTurn("tool", "{}", tool_call_id="a"))
    assert pending_tool_calls(turns) == [calls[1]]
    turns.append(ChatTurn("tool", "{}", tool_call_id="b"))
    assert pending_tool_calls(turns) == []
    assert pending_tool_calls([ChatTurn("user", "x")]) == []
    assert pending_tool_calls([]) == []


def test_tool_rounds_count_since_last_user_turn() -> None:
    round_ = [
        ChatTurn("assistant", "", tool_calls=[{"id": "a", "name": "clock"}]),
        ChatTurn("tool", "{}", tool_call_id="a"),
    ]
    assert tool_rounds([ChatTurn("user", "x"), *round_, *round_]) == 2
    assert tool_rounds([*round_, ChatTurn("user", "x")]) == 0
