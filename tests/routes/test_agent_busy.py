"""One active run per session: concurrent POSTs get 409 session_busy, or queue in order."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from models import Run
from services import Services
from tests.factories import make_session, make_user
from tests.problems import assert_problem
from tests.runs_support import API, messages, run_events, wait_until

WAIT = '/tool remember {"key": "k", "value": 1}'  # parks the run: the session stays busy


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"delta_coalesce_ms": 0}


async def test_concurrent_posts_create_exactly_one_run(
    client: httpx.AsyncClient, services: Services
) -> None:
    headers = await make_user(services)
    session = await make_session(client, headers)
    body = {"session_id": session["id"], "message": WAIT}

    responses = await asyncio.gather(
        *(client.post(f"{API}/agent/message", headers=headers, json=body) for _ in range(20))
    )

    started = [r for r in responses if r.status_code == 202]
    assert len(started) == 1, sorted(r.status_code for r in responses)
    run_id = started[0].json()["run"]["id"]
    for response in responses:
        if response is not started[0]:
            problem = assert_problem(response, 409, "session_busy")
            assert problem["run_id"] == run_id
    assert await Run.filter(session_id=session["id"]).count() == 1
    stored = await messages(client, headers, session["id"])
    assert [m["role"] for m in stored] == ["user", "assistant"]  # no stray user messages
    # Streaming requests are refused the same way, before any stream starts.
    refused = await client.post(f"{API}/agent/message/stream", headers=headers, json=body)
    assert_problem(refused, 409, "session_busy")


async def test_enqueued_runs_execute_in_arrival_order(
    client: httpx.AsyncClient, services: Services
) -> None:
    headers = await make_user(services)
    session = await make_session(client, headers)
    sid = session["id"]
    first = await client.post(
        f"{API}/agent/message", headers=headers, json={"session_id": sid, "message": WAIT}
    )
    assert first.status_code == 202, first.text
    texts = [f"queued message {i}" for i in range(5)]
    posts: list[asyncio.Task[httpx.Response]] = []
    for count, text in enumerate(texts, start=1):
        body = {"session_id": sid, "message": text, "on_busy": "enqueue"}
        posts.append(
            asyncio.create_task(client.post(f"{API}/agent/message", headers=headers, json=body))
        )

        async def arrived(expected: int = count) -> bool:
            return await Run.filter(session_id=sid).count() == 1 + expected

        await wait_until(arrived)  # arrival order is the order of the POSTs
    rejected = await client.post(
        f"{API}/agent/message", headers=headers, json={"session_id": sid, "message": "x"}
    )
    assert_problem(rejected, 409, "session_busy")
    approval_id = first.json()["approval"]["id"]
    decided = await client.post(
        f"{API}/approvals/{approval_id}/decision", headers=headers, json={"decision": "approve"}
    )
    assert decided.status_code == 200, decided.text

    results = await asyncio.wait_for(asyncio.gather(*posts), 30)

    runs = [r.json()["run"] for r in results]
    assert all(r.status_code == 200 for r in results), [r.text for r in results]
    assert [run["status"] for run in runs] == ["completed"] * len(texts)
    started = [run["started_at"] for run in runs]
    assert started == sorted(started)
    stored = await messages(client, headers, sid)
    assert [m["seq"] for m in stored] == list(range(1, len(stored) + 1))
    replies = [
        m for m in stored if m["role"] == "assistant" and m["run_id"] in {r["id"] for r in runs}
    ]
    # Each run answers its own message (not a later queued one), in arrival order.
    assert [m["content"] for m in replies] == ["Echo: " + text for text in texts]
    assert [m["run_id"] for m in replies] == [run["id"] for run in runs]
    for run, text in zip(runs, texts, strict=True):
        events = await run_events(client, headers, run["id"])
        assert events[1].data["content"] == text
        assert events[-1].data["status"] == "completed"
