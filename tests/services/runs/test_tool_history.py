"""The history a model is sent pairs every tool call with its result, however the run ended.

The model here is an OpenAI-compatible server on loopback that, like the real
API, answers 400 to a history where a tool call is not answered right after
its assistant message.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest

from core.clock import utcnow
from models import Run, RunStatus, ToolCall, ToolCallStatus
from services import Services
from tests.agent.conftest import FakeOpenAI
from tests.agent.test_openai_provider import chunk, fragment
from tests.factories import make_session, make_user
from tests.runs_support import API, get_json, messages, run_events, types

REMEMBER = '{"key": "city", "value": "Oslo"}'


@pytest.fixture
def settings_overrides(fake_openai: FakeOpenAI) -> dict[str, Any]:
    return {
        "agent_provider": "openai",
        "openai_base_url": fake_openai.base_url,
        "openai_api_key": "test-key",
        "agent_request_timeout_seconds": 5,
        "delta_coalesce_ms": 0,
    }


def ask_for_remember(fake: FakeOpenAI, call_id: str = "call_1") -> None:
    """The model's next reply asks for `remember` (a tool that needs approval)."""
    fake.reply([chunk(tool_calls=[fragment(0, call_id, "remember", REMEMBER)])])


def say(fake: FakeOpenAI, text: str) -> None:
    """The model's next reply is `text`."""
    fake.reply([chunk(content=text), chunk(finish_reason="stop")])


async def send(
    client: httpx.AsyncClient, headers: dict[str, str], session_id: str, text: str
) -> dict[str, Any]:
    response = await client.post(
        f"{API}/agent/message", headers=headers, json={"session_id": session_id, "message": text}
    )
    assert response.status_code in (200, 202), response.text
    turn: dict[str, Any] = response.json()
    return turn


async def waiting_for_approval(
    client: httpx.AsyncClient, headers: dict[str, str], fake: FakeOpenAI
) -> tuple[str, dict[str, Any]]:
    """A new session whose run waits for the approval of `remember`."""
    session_id = (await make_session(client, headers))["id"]
    ask_for_remember(fake)
    turn = await send(client, headers, session_id, "remember Oslo")
    assert turn["run"]["status"] == "waiting_approval", turn
    return session_id, turn


def roles(request: dict[str, Any]) -> list[str]:
    return [message["role"] for message in request["messages"]]


async def test_a_cancelled_wait_leaves_a_history_the_model_accepts(
    client: httpx.AsyncClient, services: Services, fake_openai: FakeOpenAI
) -> None:
    headers = await make_user(services)
    session_id, turn = await waiting_for_approval(client, headers, fake_openai)
    run_id = turn["run"]["id"]

    cancelled = await client.post(f"{API}/runs/{run_id}/cancel", headers=headers)
    assert cancelled.status_code == 200, cancelled.text

    events = await run_events(client, headers, run_id)
    assert types(events)[-2:] == ["tool_result", "done"]
    not_run = "The run was cancelled before this tool call ran."
    assert events[-2].data == {"call_id": "call_1", "tool": "remember", "error": not_run}
    [tool] = [m for m in await messages(client, headers, session_id) if m["role"] == "tool"]
    assert tool["tool_call_id"] == "call_1" and tool["run_id"] == run_id
    assert json.loads(tool["content"]) == {"error": not_run, "ok": False, "tool": "remember"}
    call = await ToolCall.get(run_id=run_id)
    assert call.status is ToolCallStatus.REJECTED

    say(fake_openai, "Fine, I will not.")
    after = await send(client, headers, session_id, "never mind")
    assert after["run"]["status"] == "completed", after
    assert fake_openai.rejected == []
    assert roles(fake_openai.requests[-1]) == ["user", "assistant", "tool", "user"]


async def test_a_run_interrupted_after_its_tool_ran_answers_the_call_with_its_result(
    client: httpx.AsyncClient, services: Services, fake_openai: FakeOpenAI
) -> None:
    headers = await make_user(services)
    session_id, turn = await waiting_for_approval(client, headers, fake_openai)
    run_id = turn["run"]["id"]
    services.executor.drive_here = False  # the approved call is "run" by the test
    decided = await client.post(
        f"{API}/approvals/{turn['approval']['id']}/decision",
        headers=headers,
        json={"decision": "approve"},
    )
    assert decided.status_code == 200, decided.text
    # As if the process ran the tool, recorded its outcome and was killed before the
    # tool message: the run is left running under a lease that lapsed.
    result = {"key": "city", "value": "Oslo"}
    await ToolCall.filter(run_id=run_id).update(status=ToolCallStatus.SUCCEEDED, result=result)
    lapsed = utcnow() - timedelta(minutes=1)
    await Run.filter(id=run_id).update(
        status=RunStatus.RUNNING, lease_owner="dead", lease_expires_at=lapsed
    )
    await services.sweeper.sweep()

    run = await get_json(client, f"/runs/{run_id}", headers)
    assert run["status"] == "interrupted"
    events = await run_events(client, headers, run_id)
    assert types(events)[-2:] == ["tool_result", "done"]
    assert events[-2].data == {"call_id": "call_1", "tool": "remember", "result": result}
    [tool] = [m for m in await messages(client, headers, session_id) if m["role"] == "tool"]
    assert json.loads(tool["content"]) == {"ok": True, "result": result, "tool": "remember"}

    services.executor.drive_here = True
    say(fake_openai, "Yes, Oslo.")
    after = await send(client, headers, session_id, "did it work?")
    assert after["run"]["status"] == "completed", after
    assert fake_openai.rejected == []
