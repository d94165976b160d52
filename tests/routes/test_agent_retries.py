"""A retried agent request (same client_message_id) gets the run the first one started."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from models import Message, Run
from services import Services
from tests.factories import make_session, make_user
from tests.runs_support import API, run_events

WAIT = '/tool remember {"key": "k", "value": 1}'  # parks the run for a decision


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"delta_coalesce_ms": 0}


async def test_concurrent_retries_that_enqueue_start_one_run(
    client: httpx.AsyncClient, services: Services
) -> None:
    headers = await make_user(services)
    session = await make_session(client, headers)
    body = {
        "session_id": session["id"],
        "message": "hello",
        "client_message_id": "retry-1",
        "on_busy": "enqueue",
    }
    responses = await asyncio.gather(
        *(client.post(f"{API}/agent/message", headers=headers, json=body) for _ in range(10))
    )
    assert {r.status_code for r in responses} == {200}, [r.text for r in responses]
    assert len({r.json()["run"]["id"] for r in responses}) == 1
    assert await Run.filter(session_id=session["id"]).count() == 1
    assert await Message.filter(session_id=session["id"], client_message_id="retry-1").count() == 1


async def test_a_retry_after_the_approval_was_decided_waits_for_the_end(
    client: httpx.AsyncClient, services: Services
) -> None:
    headers = await make_user(services)
    session = await make_session(client, headers)
    body = {"session_id": session["id"], "message": WAIT, "client_message_id": "once"}
    first = await client.post(f"{API}/agent/message", headers=headers, json=body)
    assert first.status_code == 202, first.text
    decided = await client.post(
        f"{API}/approvals/{first.json()['approval']['id']}/decision",
        headers=headers,
        json={"decision": "approve"},
    )
    assert decided.status_code == 200, decided.text

    again = await client.post(f"{API}/agent/message", headers=headers, json=body)
    assert again.status_code == 200, again.text
    assert again.json()["run"]["id"] == first.json()["run"]["id"]
    assert again.json()["run"]["status"] == "completed" and again.json()["approval"] is None
    events = await run_events(client, headers, first.json()["run"]["id"])
    assert events[-1].data["status"] == "completed"
