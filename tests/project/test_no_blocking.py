"""No blocking call on the event loop: a slice of the API under asyncio debug mode.

With `loop.set_debug(True)` asyncio logs every callback (a task step) that
holds the loop longer than `slow_callback_duration`. asyncio measures wall
time, so on a busy shared machine a step can be reported slow only because
the OS descheduled the process; a real blocking call is slow every time. The
slice therefore runs up to ATTEMPTS times and fails, naming the callbacks,
only if no attempt was clean, and `make test` runs it alone (marker `serial`),
after the parallel suite.
"""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest

from services import Services
from tests.factories import make_session, make_user

SLOW_CALLBACK_SECONDS = 0.05
ATTEMPTS = 5

pytestmark = pytest.mark.serial


async def exercise_api(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    """Sessions, messages, context, an agent turn with an approval, runs, approvals."""
    session = await make_session(client, headers, title="no blocking")
    base = f"/api/v1/sessions/{session['id']}"
    appends = [
        client.post(f"{base}/messages", json={"role": "user", "content": f"m{n}"}, headers=headers)
        for n in range(20)
    ]
    assert all(r.status_code == 201 for r in await asyncio.gather(*appends))
    assert (await client.get(f"{base}/messages?limit=50", headers=headers)).status_code == 200
    assert (await client.get("/api/v1/sessions", headers=headers)).status_code == 200
    context = await client.get(f"{base}/context", headers=headers)
    put = await client.put(
        f"{base}/context",
        json={"data": {"k": "v"}},
        headers={**headers, "If-Match": context.headers["etag"]},
    )
    assert put.status_code == 200
    turn = await client.post(
        "/api/v1/agent/message", json={"message": "hello there"}, headers=headers
    )
    assert turn.status_code == 200, turn.text
    paused = await client.post(
        "/api/v1/agent/message",
        json={"message": '/tool remember {"key": "a", "value": "b"}'},
        headers=headers,
    )
    assert paused.status_code == 202, paused.text
    approvals = (await client.get("/api/v1/approvals", headers=headers)).json()["items"]
    decision = await client.post(
        f"/api/v1/approvals/{approvals[0]['id']}/decision",
        json={"decision": "approve"},
        headers=headers,
    )
    assert decision.status_code == 200, decision.text
    assert (await client.get("/metrics")).status_code == 200


async def slow_callbacks(
    client: httpx.AsyncClient, headers: dict[str, str], caplog: pytest.LogCaptureFixture
) -> list[str]:
    """Run the slice once in debug mode; return asyncio's slow-callback lines."""
    caplog.clear()
    loop = asyncio.get_running_loop()
    loop.set_debug(True)
    loop.slow_callback_duration = SLOW_CALLBACK_SECONDS
    try:
        with caplog.at_level(logging.WARNING, logger="asyncio"):
            await exercise_api(client, headers)
            await asyncio.sleep(0.2)  # let background work (runs, writers) finish
    finally:
        loop.set_debug(False)
    return [r.getMessage() for r in caplog.records if "took" in r.getMessage()]


async def test_api_never_blocks_the_loop(
    client: httpx.AsyncClient, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    headers = await make_user(services)
    await exercise_api(client, headers)  # warm caches (schemas, query templates) first
    reports = []
    for _attempt in range(ATTEMPTS):
        slow = await slow_callbacks(client, headers, caplog)
        if not slow:
            return
        reports.append("\n".join(slow))
    pytest.fail("callbacks blocked the event loop in every attempt:\n" + "\n--\n".join(reports))
