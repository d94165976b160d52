"""What a model or a tool hands over obeys the storage rules: the session stays usable.

Tool arguments that break a rule (NUL, lone surrogate, NaN, too deep) fail the
call with the reason and store empty arguments; a model's text is cleaned; a
tool result or a context write that cannot be stored fails the call. After any
of it the history, the approvals, the context and a backup still work.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent import ChatTurn, TextDelta, Tool, ToolCallRequested, ToolContext, ToolSpec
from core.storable import MAX_JSON_DEPTH
from services import Services
from tests.factories import make_session, make_user
from tests.management.conftest import manage
from tests.runs_support import API, Event, get_json, messages, run_events, stream_message, types


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"delta_coalesce_ms": 0, "max_context_bytes": 100}


HOSTILE_COMMANDS = [  # (the user's message, the reason the call fails)
    ('/tool remember {"key": "k", "value": "\\ud800"}', "value: must be valid Unicode"),
    ('/tool remember {"key": "k\\u0000", "value": 1}', "must not contain NUL"),
    ('/tool calculator {"expression": "1\\u0000"}', "expression: must not contain NUL"),
    ('/tool remember {"key": "k", "value": NaN}', "value: must be a finite number"),
    ('/tool remember {"key": "k", "value": -Infinity}', "value: must be a finite number"),
    (
        '/tool remember {"key": "k", "value": ' + "[" * 300 + "]" * 300 + "}",
        f"deeper than {MAX_JSON_DEPTH} levels",
    ),
]


def tool_result(events: list[Event]) -> dict[str, Any]:
    results = [event.data for event in events if event.type == "tool_result"]
    assert len(results) == 1, types(events)
    return results[0]


async def assert_session_usable(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    session_id: str,
    database_url: str,
    tmp_path: Path,
) -> list[dict[str, Any]]:
    """History, approvals, sessions and context read fine, a new turn works, a backup too."""
    history = await messages(client, headers, session_id)
    await get_json(client, "/approvals", headers)
    await get_json(client, "/sessions", headers)
    await get_json(client, f"/sessions/{session_id}/context", headers)
    after = await stream_message(client, headers, session_id=session_id, message="still there?")
    assert after[-1].type == "done" and after[-1].data["status"] == "completed"
    await assert_backup_works(database_url, tmp_path / "backup.jsonl")
    return history


async def assert_backup_works(database_url: str, target: Path) -> None:
    """`python -m project backup` succeeds and writes strict JSON (no NaN, no lone surrogate)."""
    done = await asyncio.to_thread(manage, database_url, "backup", "--force", str(target))
    assert done.returncode == 0, done.stderr
    written = await asyncio.to_thread(target.read_text, encoding="utf-8")
    for line in written.splitlines():
        json.loads(line, parse_constant=_refuse)


def _refuse(constant: str) -> Any:
    raise AssertionError(f"the backup holds {constant}")


async def test_unstorable_tool_arguments_fail_the_call_and_nothing_breaks(
    client: httpx.AsyncClient, services: Services, database_url: str, tmp_path: Path
) -> None:
    headers = await make_user(services)
    session_id = (await make_session(client, headers))["id"]

    for command, reason in HOSTILE_COMMANDS:
        events = await stream_message(client, headers, session_id=session_id, message=command)

        assert types(events)[:4] == ["run", "message", "tool_call", "tool_result"], command
        assert events[2].data["arguments"] == {}
        error = tool_result(events)["error"]
        assert error.startswith("Invalid arguments for ") and reason in error, error
        assert events[-1].type == "done" and events[-1].data["status"] == "completed"
        assert "failed: Invalid arguments" in events[-2].data["content"]

    history = await assert_session_usable(client, headers, session_id, database_url, tmp_path)
    calls = [message["tool_calls"] for message in history if message["tool_calls"]]
    assert len(calls) == len(HOSTILE_COMMANDS)
    assert all(call[0]["arguments"] == {} for call in calls)
    context = await get_json(client, f"/sessions/{session_id}/context", headers)
    assert context == {"version": 0, "data": {}}
    assert (await get_json(client, "/approvals", headers))["items"] == []


async def test_remember_past_the_context_limit_fails_the_call_cleanly(
    client: httpx.AsyncClient, services: Services, database_url: str, tmp_path: Path
) -> None:
    headers = await make_user(services)
    session_id = (await make_session(client, headers))["id"]
    message = "/tool remember " + json.dumps({"key": "k", "value": "x" * 200})
    started = await client.post(
        f"{API}/agent/message", headers=headers, json={"session_id": session_id, "message": message}
    )
    assert started.status_code == 202, started.text
    decision = f"{API}/approvals/{started.json()['approval']['id']}/decision"
    decided = await client.post(decision, headers=headers, json={"decision": "approve"})
    assert decided.status_code == 200, decided.text

    events = await run_events(client, headers, started.json()["run"]["id"])

    error = tool_result(events)["error"]
    assert "the limit is 100" in error and "unexpectedly" not in error, error
    assert events[-1].data["status"] == "completed"
    context = await get_json(client, f"/sessions/{session_id}/context", headers)
    assert context == {"version": 0, "data": {}}
    await assert_session_usable(client, headers, session_id, database_url, tmp_path)


class HostileModel:
    """A model (as an OpenAI-compatible server could be) that sends unstorable text and calls."""

    async def stream(
        self, turns: Sequence[ChatTurn], tools: Sequence[ToolSpec]
    ) -> AsyncIterator[TextDelta | ToolCallRequested]:
        if turns[-1].role == "tool":
            yield TextDelta("done\x00 \udfff")
            return
        yield TextDelta("nul\x00 and \ud83d")
        yield ToolCallRequested("call\x00x", "calculator", {"expression": "1+1\x00"})
        yield ToolCallRequested("c" * 100, "hostile_result", {})  # longer than its column

    async def aclose(self) -> None:
        """Nothing to release."""


async def unstorable_result(arguments: dict[str, Any], context: ToolContext) -> Any:
    return {"text": "nul\x00"}


async def test_model_text_and_tool_results_that_cannot_be_stored(
    client: httpx.AsyncClient, services: Services, database_url: str, tmp_path: Path
) -> None:
    runner = services.runtimes.default.runner  # the built-in agent's
    runner.provider = HostileModel()
    spec = ToolSpec("hostile_result", "returns NUL", {"type": "object"})
    runner.registry.register(Tool(spec, unstorable_result))
    headers = await make_user(services)
    session_id = (await make_session(client, headers))["id"]

    events = await stream_message(client, headers, session_id=session_id, message="go")

    assert events[-1].type == "done" and events[-1].data["status"] == "completed"
    deltas = "".join(event.data["text"] for event in events if event.type == "delta")
    assert deltas == "nul\ufffd and \ufffddone\ufffd \ufffd"
    results = [event.data for event in events if event.type == "tool_result"]
    assert results[0]["call_id"] == "call\ufffdx"
    assert "expression: must not contain NUL" in results[0]["error"]
    assert results[1]["error"] == (
        "Tool hostile_result returned a result that cannot be stored: "
        "text: must not contain NUL characters"
    )
    history = await messages(client, headers, session_id)
    assert [m["role"] for m in history] == ["user", "assistant", "tool", "tool", "assistant"]
    assert history[1]["content"] == "nul\ufffd and \ufffd"
    long_id = history[1]["tool_calls"][1]["id"]
    assert long_id.startswith("call_") and len(long_id) <= 64
    assert [call["id"] for call in history[1]["tool_calls"]] == ["call\ufffdx", long_id]
    assert history[1]["tool_calls"][0]["arguments"] == {}
    assert [history[2]["tool_call_id"], history[3]["tool_call_id"]] == ["call\ufffdx", long_id]
    assert history[4]["content"] == "done\ufffd \ufffd"
    await assert_session_usable(client, headers, session_id, database_url, tmp_path)


async def test_a_tool_name_too_long_to_store_is_an_unknown_tool(
    client: httpx.AsyncClient, services: Services, database_url: str, tmp_path: Path
) -> None:
    headers = await make_user(services)
    session_id = (await make_session(client, headers))["id"]

    events = await stream_message(
        client, headers, session_id=session_id, message="/tool " + "x" * 70 + " {}"
    )

    assert types(events) == ["run", "message", "tool_call", "tool_result", "error"]
    assert events[2].data["tool"] == "x" * 63 + "…"
    assert events[-1].data["code"] == "unknown_tool"
    await assert_session_usable(client, headers, session_id, database_url, tmp_path)
