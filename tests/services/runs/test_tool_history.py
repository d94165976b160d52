"""The history a model is sent pairs every tool call with its result, however the run ended.

The model here is an OpenAI-compatible server on loopback that, like the real
API, answers 400 to a history where a tool call is not answered right after
its assistant message.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest

from core.clock import utcnow
from models import Message, MessageRole, Run, RunStatus, ToolCall, ToolCallStatus
from services import Services
from services.runs.sweeper import Sweeper
from tests.agent.test_openai_provider import chunk, fragment
from tests.factories import make_session, make_user
from tests.fake_openai import FakeOpenAI
from tests.runs_support import (
    API,
    get_json,
    messages,
    run_events,
    stream_message,
    types,
    wait_until,
)

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


async def test_a_message_posted_during_the_wait_does_not_split_the_call_from_its_result(
    client: httpx.AsyncClient, services: Services, fake_openai: FakeOpenAI
) -> None:
    headers = await make_user(services)
    session_id, turn = await waiting_for_approval(client, headers, fake_openai)
    posted = await client.post(
        f"{API}/sessions/{session_id}/messages",
        headers=headers,
        json={"role": "user", "content": "by the way, I moved"},
    )
    assert posted.status_code == 201, posted.text

    say(fake_openai, "Remembered Oslo.")
    decided = await client.post(
        f"{API}/approvals/{turn['approval']['id']}/decision",
        headers=headers,
        json={"decision": "approve"},
    )
    assert decided.status_code == 200, decided.text
    events = await run_events(client, headers, turn["run"]["id"])
    assert events[-1].data["status"] == "completed", events

    sent = fake_openai.requests[-1]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "user"]
    assert sent[2]["tool_call_id"] == "call_1" and sent[3]["content"] == "by the way, I moved"
    say(fake_openai, "Noted.")
    assert (await send(client, headers, session_id, "thanks"))["run"]["status"] == "completed"
    assert fake_openai.rejected == []


async def test_a_queued_input_is_read_after_the_run_before_it(
    client: httpx.AsyncClient, services: Services, fake_openai: FakeOpenAI
) -> None:
    headers = await make_user(services)
    session_id, turn = await waiting_for_approval(client, headers, fake_openai)
    queued = asyncio.create_task(
        stream_message(
            client, headers, session_id=session_id, message="and Bergen?", on_busy="enqueue"
        )
    )

    async def queued_input() -> bool:
        return await Message.filter(session_id=session_id, content="and Bergen?").exists()

    await wait_until(queued_input)
    say(fake_openai, "Remembered Oslo.")
    say(fake_openai, "Bergen too.")
    decided = await client.post(
        f"{API}/approvals/{turn['approval']['id']}/decision",
        headers=headers,
        json={"decision": "approve"},
    )
    assert decided.status_code == 200, decided.text
    events = await asyncio.wait_for(queued, 30)
    assert events[-1].data["status"] == "completed", events

    assert fake_openai.rejected == []
    # Stored in the order sent: the queued input lies between the call and its result.
    stored = [m["content"] for m in await messages(client, headers, session_id)]
    assert stored.index("and Bergen?") < stored.index("Remembered Oslo.")
    sent = fake_openai.requests[-1]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "assistant", "user"]
    assert sent[-1]["content"] == "and Bergen?"


async def test_a_call_without_any_result_gets_one_in_the_window(
    client: httpx.AsyncClient, services: Services, fake_openai: FakeOpenAI
) -> None:
    headers = await make_user(services)
    session_id, turn = await waiting_for_approval(client, headers, fake_openai)
    cancelled = await client.post(f"{API}/runs/{turn['run']['id']}/cancel", headers=headers)
    assert cancelled.status_code == 200, cancelled.text
    await Message.filter(session_id=session_id, role=MessageRole.TOOL).delete()

    say(fake_openai, "Hello again.")
    assert (await send(client, headers, session_id, "hi"))["run"]["status"] == "completed"
    assert fake_openai.rejected == []
    tool = fake_openai.requests[-1]["messages"][2]
    assert tool["role"] == "tool" and tool["tool_call_id"] == "call_1"
    assert json.loads(tool["content"])["error"] == "No result was recorded for this tool call."


async def test_the_sweeper_answers_calls_that_ended_runs_left_open(
    client: httpx.AsyncClient, services: Services, fake_openai: FakeOpenAI
) -> None:
    headers = await make_user(services)
    session_id, turn = await waiting_for_approval(client, headers, fake_openai)
    run_id = UUID(turn["run"]["id"])
    cancelled = await client.post(f"{API}/runs/{run_id}/cancel", headers=headers)
    assert cancelled.status_code == 200, cancelled.text
    # As data written before every end answered its calls: no tool message.
    await Message.filter(run_id=run_id, role=MessageRole.TOOL).delete()

    # A process starting on that database repairs it.
    sweeper = Sweeper(
        services.database,
        services.lifecycle,
        services.executor,
        services.hitl,
        services.clients,
        60,
        30,
    )
    await sweeper.sweep()
    assert sweeper.actions["answered"] == 1
    [tool] = await Message.filter(run_id=run_id, role=MessageRole.TOOL)
    assert tool.tool_call_id == "call_1"
    await sweeper.sweep()  # nothing left to repair
    assert sweeper.actions["answered"] == 1

    say(fake_openai, "Hello again.")
    assert (await send(client, headers, session_id, "hi"))["run"]["status"] == "completed"
    assert fake_openai.rejected == []
