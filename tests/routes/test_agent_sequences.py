"""The exact event sequence of each kind of run, and the shape of every payload."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from agent.providers.scripted import split_words
from services import Services
from services.approvals import EXPIRED_MESSAGE
from tests.factories import make_session, make_user
from tests.problems import assert_problem
from tests.runs_support import (
    API,
    Event,
    assert_ids,
    delta_text,
    get_json,
    messages,
    run_events,
    stream_message,
    types,
)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"delta_coalesce_ms": 0}


def only(events: list[Event], type_: str) -> Event:
    [event] = [event for event in events if event.type == type_]
    return event


def assert_reply(events: list[Event], reply: str, final: dict[str, Any]) -> None:
    """One delta per word of `reply`, all for the final message, which holds `reply`."""
    deltas = [event for event in events if event.type == "delta"]
    assert [event.data["text"] for event in deltas] == split_words(reply)
    assert all(
        event.data == {"message_id": final["id"], "text": event.data["text"]} for event in deltas
    )
    assert delta_text(events) == reply == final["content"]
    assert final["role"] == "assistant" and final["status"] == "complete"


async def assert_messages_match(
    client: httpx.AsyncClient, headers: dict[str, str], session_id: str, events: list[Event]
) -> list[dict[str, Any]]:
    """Every `message` event is the message exactly as GET /messages shows it."""
    stored = {item["id"]: item for item in await messages(client, headers, session_id)}
    sent = [event.data for event in events if event.type == "message"]
    assert sent and all(data == stored[data["id"]] for data in sent)
    return sent


async def assert_finished_run(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    events: list[Event],
    status: str = "completed",
) -> str:
    """Ids 1..n, `run` first, one terminal event last; GET /runs and a replay agree."""
    assert_ids(events)
    run_id = events[0].data["run_id"]
    session_id = events[0].data["session_id"]
    assert events[0] == Event(
        "run", 1, {"run_id": run_id, "session_id": session_id, "status": "queued"}
    )
    assert events[-1] == Event(
        "done", len(events), {"run_id": run_id, "session_id": session_id, "status": status}
    )
    run = await get_json(client, f"/runs/{run_id}", headers)
    assert run["status"] == status and run["last_event_id"] == len(events)
    assert await run_events(client, headers, run_id) == events
    return str(run_id)


async def start_waiting_run(
    client: httpx.AsyncClient, headers: dict[str, str], session_id: str, message: str
) -> dict[str, Any]:
    """POST /agent/message for a tool that needs approval: 202 with the pending approval."""
    response = await client.post(
        f"{API}/agent/message", headers=headers, json={"session_id": session_id, "message": message}
    )
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    assert body["run"]["status"] == "waiting_approval", body
    assert body["approval"]["status"] == "pending"
    return body


async def test_echo_reply(client: httpx.AsyncClient, services: Services) -> None:
    headers = await make_user(services)
    session = await make_session(client, headers)
    text = "hello  brave\tnew world"

    events = await stream_message(client, headers, session_id=session["id"], message=text)

    reply = "Echo: " + text
    assert types(events) == [
        "run",
        "message",
        *["delta"] * len(split_words(reply)),
        "message",
        "done",
    ]
    await assert_finished_run(client, headers, events)
    user, assistant = await assert_messages_match(client, headers, session["id"], events)
    assert user["role"] == "user" and user["content"] == text and user["seq"] == 1
    assert user["run_id"] == events[0].data["run_id"] == assistant["run_id"]
    assert assistant["seq"] == 2
    assert_reply(events, reply, assistant)


async def test_echo_in_a_new_session(client: httpx.AsyncClient, services: Services) -> None:
    headers = await make_user(services)

    events = await stream_message(client, headers, message="no session yet")

    session_id = events[0].data["session_id"]
    session = await get_json(client, f"/sessions/{session_id}", headers)
    assert session["message_count"] == 2
    await assert_finished_run(client, headers, events)
    assert delta_text(events) == "Echo: no session yet"


async def test_tool_without_approval(client: httpx.AsyncClient, services: Services) -> None:
    headers = await make_user(services)
    session = await make_session(client, headers)

    events = await stream_message(
        client, headers, session_id=session["id"], message='/tool calculator {"expression": "6*7"}'
    )

    result = {"expression": "6*7", "result": 42}
    reply = "Result of calculator: " + json.dumps(result, sort_keys=True)
    assert types(events) == [
        "run",
        "message",
        "tool_call",
        "tool_result",
        *["delta"] * len(split_words(reply)),
        "message",
        "done",
    ]
    await assert_finished_run(client, headers, events)
    call_id = events[2].data["call_id"]
    assert events[2].data == {
        "call_id": call_id,
        "tool": "calculator",
        "arguments": {"expression": "6*7"},
    }
    assert events[3].data == {"call_id": call_id, "tool": "calculator", "result": result}
    _user, final = await assert_messages_match(client, headers, session["id"], events)
    assert_reply(events, reply, final)
    stored = await messages(client, headers, session["id"])
    assert [m["role"] for m in stored] == ["user", "assistant", "tool", "assistant"]
    assert stored[1]["tool_calls"] == [
        {"id": call_id, "name": "calculator", "arguments": {"expression": "6*7"}}
    ]
    assert stored[2]["tool_call_id"] == call_id


APPROVAL_TYPES = ["run", "message", "tool_call", "approval_required"]


async def decide(
    client: httpx.AsyncClient, headers: dict[str, str], approval_id: str, **body: Any
) -> httpx.Response:
    return await client.post(f"{API}/approvals/{approval_id}/decision", headers=headers, json=body)


def assert_approval_events(
    events: list[Event], approval: dict[str, Any], status: str, arguments: dict[str, Any]
) -> str:
    """tool_call, approval_required and approval_decided describe the same call."""
    assert types(events)[:6] == [*APPROVAL_TYPES, "approval_decided", "tool_result"]
    call_id = str(events[2].data["call_id"])
    assert events[2].data == {
        "call_id": call_id,
        "tool": "remember",
        "arguments": approval["arguments"],
    }
    assert events[3].data == {
        "approval_id": approval["id"],
        "call_id": call_id,
        "tool": "remember",
        "arguments": approval["arguments"],
        "expires_at": approval["expires_at"],
    }
    decided = events[4].data
    assert decided["approval_id"] == approval["id"] and decided["call_id"] == call_id
    assert decided["status"] == status and decided["arguments"] == arguments
    return call_id


async def context_of(
    client: httpx.AsyncClient, headers: dict[str, str], session_id: str
) -> dict[str, Any]:
    context: dict[str, Any] = await get_json(client, f"/sessions/{session_id}/context", headers)
    return context


@pytest.mark.parametrize("edited", [False, True], ids=["as_proposed", "edited"])
async def test_tool_approved(client: httpx.AsyncClient, services: Services, edited: bool) -> None:
    headers = await make_user(services)
    session = await make_session(client, headers)
    before = await context_of(client, headers, session["id"])
    proposed = {"key": "color", "value": "blue"}
    body = await start_waiting_run(
        client, headers, session["id"], "/tool remember " + json.dumps(proposed)
    )
    approval = body["approval"]
    assert approval["arguments"] == proposed and approval["tool"] == "remember"
    assert (await context_of(client, headers, session["id"])) == before  # nothing ran yet
    arguments = {"key": "color", "value": ["green", 2]} if edited else proposed

    response = await decide(
        client,
        headers,
        approval["id"],
        decision="approve",
        comment="ok",
        **({"arguments": arguments} if edited else {}),
    )

    assert response.status_code == 200, response.text
    decided = response.json()
    assert decided["status"] == "approved" and decided["comment"] == "ok"
    assert decided["edited_arguments"] == (arguments if edited else None)
    assert decided["decided_by_id"] and decided["decided_at"]
    events = await run_events(client, headers, body["run"]["id"])
    reply = "Result of remember: " + json.dumps(arguments, sort_keys=True)
    assert types(events) == [
        *APPROVAL_TYPES,
        "approval_decided",
        "tool_result",
        *["delta"] * len(split_words(reply)),
        "message",
        "done",
    ]
    await assert_finished_run(client, headers, events)
    call_id = assert_approval_events(events, approval, "approved", arguments)
    assert events[5].data == {"call_id": call_id, "tool": "remember", "result": arguments}
    _user, final = await assert_messages_match(client, headers, session["id"], events)
    assert_reply(events, reply, final)
    context = await context_of(client, headers, session["id"])
    assert context["data"] == {**before["data"], "color": arguments["value"]}
    assert context["version"] == before["version"] + 1


async def test_tool_rejected(client: httpx.AsyncClient, services: Services) -> None:
    headers = await make_user(services)
    session = await make_session(client, headers)
    before = await context_of(client, headers, session["id"])
    body = await start_waiting_run(
        client, headers, session["id"], '/tool remember {"key": "k", "value": 1}'
    )
    approval = body["approval"]

    response = await decide(client, headers, approval["id"], decision="reject", comment="not now")

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "rejected"
    events = await run_events(client, headers, body["run"]["id"])
    error = "The reviewer rejected this tool call. not now"
    reply = f"Tool remember failed: {error}"
    assert types(events) == [
        *APPROVAL_TYPES,
        "approval_decided",
        "tool_result",
        *["delta"] * len(split_words(reply)),
        "message",
        "done",
    ]
    await assert_finished_run(client, headers, events)
    call_id = assert_approval_events(events, approval, "rejected", approval["arguments"])
    assert events[4].data["comment"] == "not now"
    assert events[5].data == {"call_id": call_id, "tool": "remember", "error": error}
    _user, final = await assert_messages_match(client, headers, session["id"], events)
    assert_reply(events, reply, final)
    assert await context_of(client, headers, session["id"]) == before


@pytest.mark.parametrize(
    "settings_overrides",
    [{"delta_coalesce_ms": 0, "approval_ttl_seconds": 1, "sweep_interval_seconds": 0.2}],
)
async def test_tool_approval_expires(client: httpx.AsyncClient, services: Services) -> None:
    headers = await make_user(services)
    session = await make_session(client, headers)
    body = await start_waiting_run(
        client, headers, session["id"], '/tool remember {"key": "k", "value": 1}'
    )
    approval = body["approval"]

    events = await run_events(client, headers, body["run"]["id"])  # follows until the end

    reply = f"Tool remember failed: {EXPIRED_MESSAGE}"
    assert types(events) == [
        *APPROVAL_TYPES,
        "approval_decided",
        "tool_result",
        *["delta"] * len(split_words(reply)),
        "message",
        "done",
    ]
    await assert_finished_run(client, headers, events)
    call_id = assert_approval_events(events, approval, "expired", approval["arguments"])
    assert events[5].data == {"call_id": call_id, "tool": "remember", "error": EXPIRED_MESSAGE}
    _user, final = await assert_messages_match(client, headers, session["id"], events)
    assert_reply(events, reply, final)
    stored = await get_json(client, f"/approvals/{approval['id']}", headers)
    assert stored["status"] == "expired" and stored["decided_at"]
    late = await decide(client, headers, approval["id"], decision="approve")
    assert_problem(late, 409, "approval_already_decided")
    assert (await context_of(client, headers, session["id"]))["data"] == {}
