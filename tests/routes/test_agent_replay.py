"""Resuming a run's stream: Last-Event-ID / ?after=, bad ids, past the end, disconnects."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from httpx_sse import aconnect_sse

from services import Services
from tests.factories import make_session, make_user, raw_headers
from tests.problems import assert_problem
from tests.runs_support import (
    API,
    Event,
    LiveServer,
    assert_ids,
    delta_text,
    get_json,
    run_events,
    stream_message,
    types,
    wait_until,
)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"delta_coalesce_ms": 0}


async def finished_tool_run(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> tuple[str, list[Event]]:
    session = await make_session(client, headers)
    events = await stream_message(
        client, headers, session_id=session["id"], message='/tool calculator {"expression": "1+2"}'
    )
    assert events[-1].type == "done"
    return str(events[0].data["run_id"]), events


async def test_resume_at_every_event_id(client: httpx.AsyncClient, services: Services) -> None:
    headers = await make_user(services)
    run_id, events = await finished_tool_run(client, headers)
    assert_ids(events)

    for last in range(len(events)):
        assert await run_events(client, headers, run_id, last_event_id=last) == events[last:]
    for after in (0, 3, len(events) - 1):
        assert await run_events(client, headers, run_id, after=after) == events[after:]
    assert await run_events(client, headers, run_id, last_event_id=5, after=2) == events[5:]


async def test_resuming_past_the_end_of_a_finished_run_is_204(
    client: httpx.AsyncClient, services: Services
) -> None:
    headers = await make_user(services)
    run_id, events = await finished_tool_run(client, headers)
    url = f"{API}/runs/{run_id}/events"
    # An empty 200 made a browser's EventSource reconnect forever; 204 makes it stop.
    by_header = [{**headers, "Last-Event-ID": str(n)} for n in (len(events), len(events) + 50)]
    for response in [
        *[await client.get(url, headers=resume) for resume in by_header],
        await client.get(url, headers=headers, params={"after": "10000"}),
    ]:
        assert response.status_code == 204, response.text
        assert response.content == b""
    # One event short of the end still streams that event.
    last = await run_events(client, headers, run_id, last_event_id=len(events) - 1)
    assert last == events[-1:]


async def test_bad_last_event_id_is_a_400(client: httpx.AsyncClient, services: Services) -> None:
    headers = await make_user(services)
    run_id, _ = await finished_tool_run(client, headers)
    url = f"{API}/runs/{run_id}/events"

    # "²" and "١" pass str.isdigit(): the first made int() fail, the second was read as 1.
    for bad in ["abc", "-1", "1.5", "0x10", "99999999999", "1 2", "²", "\u0661", "１"]:
        raw = bad.encode("latin-1", errors="ignore") or bad.encode()  # "²" is byte 0xB2
        by_header = await client.get(url, headers=raw_headers(headers, {"Last-Event-ID": raw}))
        by_query = await client.get(url, headers=headers, params={"after": bad})
        assert_problem(by_header, 400, "invalid_last_event_id")
        assert_problem(by_query, 400, "invalid_last_event_id")


async def test_events_of_unknown_or_foreign_runs_are_404(
    client: httpx.AsyncClient, services: Services
) -> None:
    owner = await make_user(services)
    other = await make_user(services)
    run_id, _ = await finished_tool_run(client, owner)

    for url in (f"/runs/{run_id}", f"/runs/{run_id}/events"):
        assert_problem(await client.get(f"{API}{url}", headers=other), 404, "run_not_found")
    unknown = "00000000-0000-4000-8000-000000000000"
    assert_problem(await client.get(f"{API}/runs/{unknown}/events", headers=owner), 404)


LONG = " ".join(f"word{i}" for i in range(40))


@pytest.mark.parametrize("settings_overrides", [{"delta_coalesce_ms": 0, "token_delay_ms": 20}])
async def test_disconnect_mid_stream_then_reattach_repeatedly(
    lifespan: LifespanManager, client: httpx.AsyncClient, services: Services
) -> None:
    """Dropping the connection does not stop the run; every re-attach continues exactly."""
    headers = await make_user(services)
    session = await make_session(client, headers)
    received: list[Event] = []

    async with LiveServer(lifespan.app) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            body = {"session_id": session["id"], "message": LONG}
            async with aconnect_sse(
                http, "POST", f"{API}/agent/message/stream", headers=headers, json=body
            ) as source:
                async for sse in source.aiter_sse():
                    received.append(Event(sse.event, int(sse.id), json.loads(sse.data)))
                    if len(received) == 5:
                        break  # the client goes away mid-stream
            run_id = received[0].data["run_id"]
            run = await get_json(client, f"/runs/{run_id}", headers)
            assert run["status"] == "running"
            while received[-1].type != "done":  # re-attach, read a few, drop again
                resume = {**headers, "Last-Event-ID": str(received[-1].id)}
                async with aconnect_sse(
                    http, "GET", f"{API}/runs/{run_id}/events", headers=resume
                ) as source:
                    count = 0
                    async for sse in source.aiter_sse():
                        received.append(Event(sse.event, int(sse.id), json.loads(sse.data)))
                        count += 1
                        if count == 7:
                            break

    async def completed() -> bool:
        run = await get_json(client, f"/runs/{run_id}", headers)
        return bool(run["status"] == "completed")

    await wait_until(completed)
    replay = await run_events(client, headers, run_id)
    assert received == replay
    assert_ids(replay)
    assert types(replay)[-2:] == ["message", "done"]
    assert delta_text(replay) == "Echo: " + LONG == replay[-2].data["content"]
