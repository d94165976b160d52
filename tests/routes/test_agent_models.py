"""Each agent's instructions, model, tools and policy reach an OpenAI-compatible server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services import Services
from tests.factories import make_session, make_user
from tests.fake_openai import (
    FakeOpenAI,
    serving_fake_openai,
    text_chunk,
    tool_call_chunk,
    usage_chunk,
)
from tests.runs_support import API, get_json, run_events, stream_message, types

LOCATION = {
    "name": "get_location",
    "description": "Where the user is.",
    "parameters": {"type": "object", "properties": {"precision": {"enum": ["city", "street"]}}},
}


@pytest.fixture
async def fake_openai() -> AsyncIterator[FakeOpenAI]:
    async with serving_fake_openai() as fake:
        yield fake


@pytest.fixture
def settings_overrides(fake_openai: FakeOpenAI) -> dict[str, Any]:
    return {
        "openai_base_url": fake_openai.base_url,
        "agent_request_timeout_seconds": 10,
        "delta_coalesce_ms": 0,
    }


async def create_agent(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> None:
    response = await client.post(f"{API}/agents", headers=headers, json=body)
    assert response.status_code == 201, response.text


def tool_names(request: dict[str, Any]) -> list[str]:
    return [tool["function"]["name"] for tool in request.get("tools", [])]


async def test_instructions_model_tools_and_policy_reach_the_server(
    client: httpx.AsyncClient, services: Services, fake_openai: FakeOpenAI
) -> None:
    headers = await make_user(services)
    await create_agent(
        client,
        headers,
        name="analyst",
        provider="openai",
        model="model-a",
        instructions="You are the analyst.",
        tools=["calculator"],
        tools_requiring_approval=["calculator"],
    )
    await create_agent(
        client,
        headers,
        name="scout",
        provider="openai",
        model="model-b",
        instructions="You scout.",
        tools=["clock", "recall"],
        client_tools=[LOCATION],
    )

    # The analyst asks for the calculator, which its policy makes wait for a human.
    analyst = await make_session(client, headers, agent="analyst")
    fake_openai.reply([tool_call_chunk("call_a", "calculator", {"expression": "6*7"})])
    fake_openai.reply([text_chunk("It is 42."), usage_chunk(20, 4)])
    response = await client.post(
        f"{API}/agent/message",
        headers=headers,
        json={"session_id": analyst["id"], "message": "What is 6*7?"},
    )
    assert response.status_code == 202, response.text
    turn = response.json()
    assert turn["approval"]["tool"] == "calculator"
    sent = fake_openai.requests[0]
    assert sent["model"] == "model-a"
    assert sent["messages"] == [
        {"role": "system", "content": "You are the analyst."},
        {"role": "user", "content": "What is 6*7?"},
    ]
    assert tool_names(sent) == ["calculator"]

    decided = await client.post(
        f"{API}/approvals/{turn['approval']['id']}/decision",
        headers=headers,
        json={"decision": "approve"},
    )
    assert decided.status_code == 200, decided.text
    events = await run_events(client, headers, turn["run"]["id"])
    assert events[-1].data["status"] == "completed"
    resumed = fake_openai.requests[1]
    assert resumed["messages"][0] == {"role": "system", "content": "You are the analyst."}
    assert resumed["messages"][-1]["role"] == "tool"
    assert '"result": 42' in resumed["messages"][-1]["content"]

    # The scout is offered its own tools and its client's, and runs `clock` unasked.
    scout = await make_session(client, headers, agent="scout")
    fake_openai.reply([tool_call_chunk("call_c", "clock", {}), usage_chunk(30, 2)])
    fake_openai.reply([text_chunk("Noted."), usage_chunk(40, 1)])
    events = await stream_message(client, headers, session_id=scout["id"], message="Time?")
    assert "approval_required" not in types(events)
    assert events[-1].data["status"] == "completed"
    sent = fake_openai.requests[2]
    assert sent["model"] == "model-b"
    assert sent["messages"][0] == {"role": "system", "content": "You scout."}
    assert tool_names(sent) == ["clock", "recall", "get_location"]
    offered = sent["tools"][2]["function"]
    assert offered == {
        "name": "get_location",
        "description": "Where the user is.",
        "parameters": LOCATION["parameters"],
    }

    # Each run records its agent and the tokens the server reported.
    run = await get_json(client, f"/runs/{events[0].data['run_id']}", headers)
    assert (run["agent"], run["agent_version"]) == ("scout", 1)
    assert run["usage"] == {"prompt_tokens": 70, "completion_tokens": 3}
    run = await get_json(client, f"/runs/{turn['run']['id']}", headers)
    assert (run["agent"], run["usage"]) == (
        "analyst",
        {"prompt_tokens": 20, "completion_tokens": 4},
    )
    # The built-in agent still runs on the settings' provider (scripted): no request.
    default = await make_session(client, headers)
    await stream_message(client, headers, session_id=default["id"], message="hi")
    assert len(fake_openai.requests) == 4
