"""Bad input to the agent routes: a 4xx problem, or an in-stream `error` event; never a 500."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from models import Message, Run
from services import Services
from tests.factories import make_session, make_user
from tests.problems import assert_problem
from tests.runs_support import API, get_json, stream_message, types

UNKNOWN = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"delta_coalesce_ms": 0, "max_message_bytes": 1000}


async def test_bad_requests_are_problems_and_write_nothing(
    client: httpx.AsyncClient, services: Services
) -> None:
    headers = await make_user(services)
    session = await make_session(client, headers)
    other = await make_user(services)
    sid = session["id"]
    cases: list[tuple[dict[str, Any], int, str | None]] = [
        ({"session_id": UNKNOWN, "message": "hi"}, 404, "session_not_found"),
        ({"session_id": "not-a-uuid", "message": "hi"}, 422, "validation_error"),
        ({"session_id": sid, "message": ""}, 422, "validation_error"),
        ({}, 422, "validation_error"),
        ({"session_id": sid}, 409, "nothing_to_answer"),  # no message: answer the empty history
        ({"session_id": sid, "message": "x" * 1001}, 413, "payload_too_large"),
        ({"session_id": sid, "message": "é" * 501}, 413, "payload_too_large"),  # bytes, not chars
        ({"session_id": sid, "message": "hi", "on_busy": "wait"}, 422, "validation_error"),
        ({"session_id": sid, "message": "hi", "extra": 1}, 422, "validation_error"),
    ]
    for path in ("/agent/message", "/agent/message/stream"):
        for body, status, code in cases:
            response = await client.post(f"{API}{path}", headers=headers, json=body)
            assert_problem(response, status, code)
        foreign = await client.post(
            f"{API}{path}", headers=other, json={"session_id": sid, "message": "hi"}
        )
        assert_problem(foreign, 404, "session_not_found")
    huge = await client.post(
        f"{API}/agent/message", headers=headers, json={"message": "x" * 2_000_000}
    )
    assert_problem(huge, 413, "payload_too_large")
    assert await Message.all().count() == 0
    assert await Run.all().count() == 0
    for url in (f"/runs/{UNKNOWN}", f"/approvals/{UNKNOWN}"):
        assert_problem(await client.get(f"{API}{url}", headers=headers), 404)
    assert_problem(await client.post(f"{API}/runs/{UNKNOWN}/cancel", headers=headers), 404)


async def assert_failed_in_stream(
    client: httpx.AsyncClient, headers: dict[str, str], events: list[Any], code: str
) -> None:
    error = events[-1]
    assert error.type == "error"
    run_id, session_id = error.data["run_id"], error.data["session_id"]
    assert error.data == {
        "run_id": run_id,
        "session_id": session_id,
        "status": "failed",
        "code": code,
        "message": error.data["message"],
    }
    assert error.data["message"]
    run = await get_json(client, f"/runs/{run_id}", headers)
    assert run["status"] == "failed"
    assert run["error"] == {"code": code, "message": error.data["message"]}
    after = await stream_message(client, headers, session_id=session_id, message="next")
    assert after[-1].type == "done" and after[-1].data["status"] == "completed"


async def test_invalid_tool_json_fails_the_run_in_stream(
    client: httpx.AsyncClient, services: Services
) -> None:
    headers = await make_user(services)
    for command in ("/tool calculator {oops", '/tool calculator ["a"]', "/tool "):
        events = await stream_message(client, headers, message=command)
        assert types(events) == ["run", "message", "error"]
        code = "invalid_tool_command" if command == "/tool " else "invalid_tool_arguments"
        await assert_failed_in_stream(client, headers, events, code)


async def test_unknown_tool_fails_the_run_in_stream(
    client: httpx.AsyncClient, services: Services
) -> None:
    headers = await make_user(services)

    events = await stream_message(client, headers, message="/tool teleport {}")

    assert types(events) == ["run", "message", "tool_call", "tool_result", "error"]
    call_id = events[2].data["call_id"]
    assert events[3].data == {
        "call_id": call_id,
        "tool": "teleport",
        "error": "Unknown tool: 'teleport'",
    }
    assert "teleport" in events[-1].data["message"]
    await assert_failed_in_stream(client, headers, events, "unknown_tool")


async def test_invalid_tool_arguments_are_reported_to_the_agent(
    client: httpx.AsyncClient, services: Services
) -> None:
    """Valid JSON that does not fit the tool's schema: the tool is not run, the agent says so."""
    headers = await make_user(services)

    events = await stream_message(client, headers, message='/tool calculator {"expr": 1}')

    assert types(events)[:4] == ["run", "message", "tool_call", "tool_result"]
    assert "error" in events[3].data and "expression" in events[3].data["error"]
    assert events[-1].type == "done" and events[-1].data["status"] == "completed"
