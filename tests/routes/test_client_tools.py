"""Client-executed tools: the run waits, the client answers once, expiry, cancel, restarts."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from httpx_sse import aconnect_sse

from core.settings import Settings
from project.app import create_app
from services import Services
from services.client_tools import EXPIRED_MESSAGE
from tests.factories import make_session, make_user
from tests.problems import assert_problem
from tests.runs_support import (
    API,
    Event,
    LiveServer,
    get_json,
    messages,
    run_events,
    stream_message,
    types,
)

LOCATION = {
    "name": "get_location",
    "description": "Where the user is.",
    "parameters": {
        "type": "object",
        "properties": {"precision": {"enum": ["city", "street"]}},
        "required": ["precision"],
        "additionalProperties": False,
    },
}
ASK = '/tool get_location {"precision": "city"}'
OSLO = {"city": "Oslo", "country": "NO"}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"delta_coalesce_ms": 0}


async def browser_session(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    """A session of an agent whose only tool is run by the client (and one server tool)."""
    response = await client.post(
        f"{API}/agents",
        headers=headers,
        json={
            "name": "browser",
            "provider": "scripted",
            "tools": ["clock"],
            "client_tools": [LOCATION],
        },
    )
    assert response.status_code in (201, 409), response.text  # 409: made by an earlier call
    return await make_session(client, headers, agent="browser")


async def waiting_run(
    client: httpx.AsyncClient, headers: dict[str, str], session_id: str
) -> dict[str, Any]:
    """POST /agent/message with a client tool call: 202 once the run waits for the client."""
    response = await client.post(
        f"{API}/agent/message", headers=headers, json={"session_id": session_id, "message": ASK}
    )
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    assert body["run"]["status"] == "waiting_for_client"
    assert body["approval"] is None
    return body


async def submit(
    client: httpx.AsyncClient, headers: dict[str, str], run_id: str, call_id: str, output: Any
) -> httpx.Response:
    return await client.post(
        f"{API}/runs/{run_id}/tool-results",
        headers=headers,
        json={"tool_call_id": call_id, "output": output},
    )


def reply_to(output: Any) -> str:
    return "Result of get_location: " + json.dumps(output, sort_keys=True)


async def test_a_client_tool_round_trip_over_sse(
    lifespan: LifespanManager, client: httpx.AsyncClient, services: Services
) -> None:
    headers = await make_user(services)
    session = await browser_session(client, headers)
    received: list[Event] = []
    async with (
        LiveServer(lifespan.app) as server,
        httpx.AsyncClient(base_url=server.url, timeout=30) as http,
    ):
        body = {"session_id": session["id"], "message": ASK}
        async with aconnect_sse(
            http, "POST", f"{API}/agent/message/stream", headers=headers, json=body
        ) as source:
            async for sse in source.aiter_sse():
                event = Event(sse.event, int(sse.id), json.loads(sse.data))
                received.append(event)
                if event.type == "client_tool_call":
                    # The same stream stays open while the client runs the tool.
                    run = await get_json(client, f"/runs/{received[0].data['run_id']}", headers)
                    assert run["status"] == "waiting_for_client"
                    answered = await submit(client, headers, run["id"], event.data["call_id"], OSLO)
                    assert answered.status_code == 200, answered.text
                    assert answered.json() == {
                        "run_id": run["id"],
                        "tool_call_id": event.data["call_id"],
                        "tool": "get_location",
                        "output": OSLO,
                    }

    assert types(received)[:4] == ["run", "message", "tool_call", "client_tool_call"]
    assert types(received)[4:6] == ["tool_result", "delta"]
    assert types(received)[-2:] == ["message", "done"]
    call, asked = received[2].data, received[3].data
    assert call == {
        "call_id": call["call_id"],
        "tool": "get_location",
        "arguments": {"precision": "city"},
    }
    assert asked == {**call, "expires_at": asked["expires_at"]}
    assert received[4].data == {"call_id": call["call_id"], "tool": "get_location", "result": OSLO}
    assert received[-2].data["content"] == reply_to(OSLO)
    assert received[-1].data["status"] == "completed"
    stored = await messages(client, headers, session["id"])
    tool_message = next(m for m in stored if m["role"] == "tool")
    assert json.loads(tool_message["content"]) == {
        "ok": True,
        "result": OSLO,
        "tool": "get_location",
    }
    # The call was answered: a second result is refused, whatever it says.
    again = await submit(client, headers, received[0].data["run_id"], call["call_id"], {"x": 1})
    problem = assert_problem(again, 409, "tool_call_not_waiting")
    assert problem["tool_call_status"] == "answered"


async def test_the_first_of_concurrent_results_wins(
    client: httpx.AsyncClient, services: Services
) -> None:
    headers = await make_user(services)
    session = await browser_session(client, headers)
    body = await waiting_run(client, headers, session["id"])
    pending = body["client_tool_call"]
    assert pending["tool"] == "get_location" and pending["arguments"] == {"precision": "city"}
    run_id, call_id = body["run"]["id"], pending["call_id"]

    outputs = [{"city": f"City {n}"} for n in range(4)]
    responses = await asyncio.gather(
        *(submit(client, headers, run_id, call_id, output) for output in outputs)
    )
    winners = [r for r in responses if r.status_code == 200]
    assert len(winners) == 1, [r.text for r in responses]
    for loser in responses:
        if loser is not winners[0]:
            assert assert_problem(loser, 409, "tool_call_not_waiting")["tool_call_status"] == (
                "answered"
            )
    events = await run_events(client, headers, run_id)
    assert types(events).count("tool_result") == 1
    won = winners[0].json()["output"]
    assert next(e for e in events if e.type == "tool_result").data["result"] == won
    assert events[-2].data["content"] == reply_to(won)


async def test_results_only_for_waiting_calls_of_your_runs(
    client: httpx.AsyncClient, services: Services
) -> None:
    headers = await make_user(services)
    session = await browser_session(client, headers)
    body = await waiting_run(client, headers, session["id"])
    run_id, call_id = body["run"]["id"], body["client_tool_call"]["call_id"]

    for unknown in ("call_nope", "x" * 64):
        problem = assert_problem(
            await submit(client, headers, run_id, unknown, 1), 404, "tool_call_not_found"
        )
        assert problem["detail"]
    other, admin = await make_user(services), await make_user(services, admin=True)
    for stranger in (other, admin):
        assert_problem(await submit(client, stranger, run_id, call_id, 1), 404, "run_not_found")
    url = f"{API}/runs/{run_id}/tool-results"
    for bad in (
        {"tool_call_id": call_id},
        {"output": 1},
        {"tool_call_id": "", "output": 1},
        {"tool_call_id": call_id, "output": 1, "extra": True},
        {"tool_call_id": call_id, "output": {"text": "nul \x00"}},
    ):
        assert_problem(await client.post(url, headers=headers, json=bad), 422, "validation_error")
    too_big = {"tool_call_id": call_id, "output": "x" * services.settings.max_message_bytes}
    problem = assert_problem(await client.post(url, headers=headers, json=too_big), 413)
    assert problem["limit_bytes"] == services.settings.max_message_bytes
    run = await get_json(client, f"/runs/{run_id}", headers)
    assert run["status"] == "waiting_for_client"  # nothing above answered it

    # JSON null is an answer like any other.
    assert (await submit(client, headers, run_id, call_id, None)).status_code == 200
    events = await run_events(client, headers, run_id)
    assert events[-2].data["content"] == "Result of get_location: null"

    # A server tool's call is not the client's to answer.
    events = await stream_message(client, headers, session_id=session["id"], message="/tool clock")
    server_call = events[2].data["call_id"]
    assert_problem(
        await submit(client, headers, events[0].data["run_id"], server_call, 1),
        404,
        "tool_call_not_found",
    )


async def test_arguments_that_do_not_fit_the_schema_never_reach_the_client(
    client: httpx.AsyncClient, services: Services
) -> None:
    headers = await make_user(services)
    session = await browser_session(client, headers)
    message = '/tool get_location {"precision": "planet"}'
    events = await stream_message(client, headers, session_id=session["id"], message=message)
    assert "client_tool_call" not in types(events)
    result = next(e for e in events if e.type == "tool_result").data
    assert result["error"].startswith("Invalid arguments for get_location: precision:")
    assert events[-1].data["status"] == "completed"


@pytest.mark.parametrize(
    "settings_overrides",
    [{"delta_coalesce_ms": 0, "client_tool_ttl_seconds": 1, "sweep_interval_seconds": 0.2}],
)
async def test_a_result_that_never_comes_expires(
    client: httpx.AsyncClient, services: Services
) -> None:
    headers = await make_user(services)
    session = await browser_session(client, headers)
    body = await waiting_run(client, headers, session["id"])
    run_id, call_id = body["run"]["id"], body["client_tool_call"]["call_id"]

    events = await run_events(client, headers, run_id)  # follows until the end

    assert types(events)[:5] == ["run", "message", "tool_call", "client_tool_call", "tool_result"]
    assert events[4].data == {"call_id": call_id, "tool": "get_location", "error": EXPIRED_MESSAGE}
    assert events[-2].data["content"] == f"Tool get_location failed: {EXPIRED_MESSAGE}"
    assert events[-1].data["status"] == "completed"
    late = assert_problem(await submit(client, headers, run_id, call_id, OSLO), 409)
    assert late["tool_call_status"] == "expired"


async def test_cancel_works_while_the_run_waits_for_the_client(
    client: httpx.AsyncClient, services: Services
) -> None:
    headers = await make_user(services)
    session = await browser_session(client, headers)
    body = await waiting_run(client, headers, session["id"])
    run_id, call_id = body["run"]["id"], body["client_tool_call"]["call_id"]

    cancelled = await client.post(f"{API}/runs/{run_id}/cancel", headers=headers)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    events = await run_events(client, headers, run_id)
    assert types(events)[-3:] == ["client_tool_call", "tool_result", "done"]
    # The end of the run answers the call, so the history stays valid for the model.
    assert events[-2].data == {
        "call_id": call_id,
        "tool": "get_location",
        "error": "The run was cancelled before this tool call ran.",
    }
    assert events[-1].data["status"] == "cancelled"
    late = assert_problem(await submit(client, headers, run_id, call_id, OSLO), 409)
    assert late["tool_call_status"] == "cancelled"
    # The session is free again.
    after = await stream_message(client, headers, session_id=session["id"], message="hi")
    assert after[-1].data["status"] == "completed"


async def test_the_wait_survives_a_restart(settings: Settings) -> None:
    first = create_app(settings)
    async with LifespanManager(first) as manager:
        services: Services = first.state.services
        headers = await make_user(services)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://test"
        ) as client:
            session = await browser_session(client, headers)
            body = await waiting_run(client, headers, session["id"])
    run_id, call_id = body["run"]["id"], body["client_tool_call"]["call_id"]

    second = create_app(settings)
    async with (
        LifespanManager(second) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://test"
        ) as client,
    ):
        run = await get_json(client, f"/runs/{run_id}", headers)
        assert run["status"] == "waiting_for_client"
        answered = await submit(client, headers, run_id, call_id, OSLO)
        assert answered.status_code == 200, answered.text
        events = await run_events(client, headers, run_id)
        assert types(events).count("client_tool_call") == 1
        assert events[-2].data["content"] == reply_to(OSLO)
        assert events[-1].data["status"] == "completed"
