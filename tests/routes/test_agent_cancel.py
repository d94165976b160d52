"""POST /runs/{id}/cancel in every state: queued, running, waiting_approval, finished."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from models import Run
from services import Services
from tests.factories import make_session, make_user
from tests.problems import assert_problem
from tests.runs_support import (
    API,
    Event,
    delta_text,
    get_json,
    messages,
    run_events,
    stream_message,
    types,
    wait_until,
)

WAIT = '/tool remember {"key": "k", "value": 1}'


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"delta_coalesce_ms": 0}


async def cancel(client: httpx.AsyncClient, headers: dict[str, str], run_id: str) -> httpx.Response:
    return await client.post(f"{API}/runs/{run_id}/cancel", headers=headers)


def assert_cancelled(response: httpx.Response, run_id: str) -> None:
    assert response.status_code == 200, response.text
    run = response.json()
    assert run["id"] == run_id and run["status"] == "cancelled" and run["finished_at"]


async def assert_session_usable(
    client: httpx.AsyncClient, headers: dict[str, str], session_id: str
) -> None:
    events = await stream_message(client, headers, session_id=session_id, message="still here")
    assert events[-1].data["status"] == "completed", events
    assert delta_text(events) == "Echo: still here"


async def test_cancel_queued_and_waiting_runs(
    client: httpx.AsyncClient, services: Services
) -> None:
    headers = await make_user(services)
    session = await make_session(client, headers)
    sid = session["id"]
    first = await client.post(
        f"{API}/agent/message", headers=headers, json={"session_id": sid, "message": WAIT}
    )
    assert first.status_code == 202, first.text
    waiting_id, approval_id = first.json()["run"]["id"], first.json()["approval"]["id"]
    queued_stream = asyncio.create_task(
        stream_message(client, headers, session_id=sid, message="later", on_busy="enqueue")
    )

    async def queued_run() -> str | None:
        run = await Run.filter(session_id=sid).exclude(id=waiting_id).first()
        return str(run.id) if run else None

    queued_id = await wait_until(queued_run)
    assert (await get_json(client, f"/runs/{queued_id}", headers))["status"] == "queued"

    cancelled = await cancel(client, headers, queued_id)
    assert_cancelled(cancelled, queued_id)
    # The answer is the run as it ended: its last event is the `done` just logged.
    read = await get_json(client, f"/runs/{queued_id}", headers)
    assert cancelled.json() == read and read["last_event_id"] == 3
    queued_events = await asyncio.wait_for(queued_stream, 30)
    assert types(queued_events) == ["run", "message", "done"]
    assert queued_events[-1].data["status"] == "cancelled"

    assert_cancelled(await cancel(client, headers, waiting_id), waiting_id)
    approval = await get_json(client, f"/approvals/{approval_id}", headers)
    assert approval["status"] == "cancelled"
    late = await client.post(
        f"{API}/approvals/{approval_id}/decision", headers=headers, json={"decision": "approve"}
    )
    assert_problem(late, 409, "approval_already_decided")
    waiting_events = await run_events(client, headers, waiting_id)
    assert types(waiting_events) == [
        "run",
        "message",
        "tool_call",
        "approval_required",
        "tool_result",
        "done",
    ]
    not_run = "The run was cancelled before this tool call ran."
    assert waiting_events[-2].data["error"] == not_run
    assert waiting_events[-1].data["status"] == "cancelled"
    context = await get_json(client, f"/sessions/{sid}/context", headers)
    assert context["data"] == {}  # the tool never ran

    for run_id in (queued_id, waiting_id):
        problem = assert_problem(await cancel(client, headers, run_id), 409, "run_not_cancellable")
        assert problem["run_status"] == "cancelled"
    await assert_session_usable(client, headers, sid)


LONG = " ".join(f"w{i}" for i in range(150))


@pytest.mark.parametrize("settings_overrides", [{"delta_coalesce_ms": 0, "token_delay_ms": 20}])
async def test_cancel_running_keeps_the_partial_text(
    client: httpx.AsyncClient, services: Services
) -> None:
    headers = await make_user(services)
    session = await make_session(client, headers)
    sid = session["id"]
    stream = asyncio.create_task(stream_message(client, headers, session_id=sid, message=LONG))

    async def streaming() -> dict[str, Any] | None:
        for message in await messages(client, headers, sid):
            if message["role"] == "assistant" and len(message["content"]) > 20:
                return message
        return None

    partial = await wait_until(streaming)
    assert partial["status"] == "streaming"
    run_id = partial["run_id"]
    assert (await get_json(client, f"/runs/{run_id}", headers))["status"] == "running"

    assert_cancelled(await cancel(client, headers, run_id), run_id)

    events: list[Event] = await asyncio.wait_for(stream, 30)
    assert events[-1].type == "done" and events[-1].data["status"] == "cancelled"
    assert set(types(events)[2:-2]) == {"delta"}
    [assistant] = [m for m in await messages(client, headers, sid) if m["role"] == "assistant"]
    full = "Echo: " + LONG
    assert assistant["status"] == "cancelled"
    assert partial["content"] in assistant["content"] and assistant["content"] != full
    assert full.startswith(assistant["content"])
    assert assistant["content"].startswith(delta_text(events))
    # The last event before the end shows the partial reply as stored.
    assert events[-2].type == "message" and events[-2].data == assistant
    await asyncio.sleep(0.2)  # a cancelled run emits nothing more
    assert await run_events(client, headers, run_id) == events
    assert_problem(await cancel(client, headers, run_id), 409, "run_not_cancellable")
    await assert_session_usable(client, headers, sid)


async def test_cancel_finished_run_is_a_409(client: httpx.AsyncClient, services: Services) -> None:
    headers = await make_user(services)
    events = await stream_message(client, headers, message="done already")
    run_id = events[0].data["run_id"]

    problem = assert_problem(await cancel(client, headers, run_id), 409, "run_not_cancellable")

    assert problem["run_status"] == "completed"
    assert (await get_json(client, f"/runs/{run_id}", headers))["status"] == "completed"
    other = await make_user(services)
    assert_problem(await cancel(client, other, run_id), 404, "run_not_found")
    await assert_session_usable(client, headers, events[0].data["session_id"])
