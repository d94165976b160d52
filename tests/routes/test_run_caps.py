"""Per-user caps on runs in flight and queued: 429 with Retry-After, and fair sharing."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from core.errors import TooManyRequests
from models import Run, RunStatus
from services import Caller, Services
from services.runs.manager import OnBusy
from tests.factories import make_session, make_user
from tests.problems import assert_problem
from tests.runs_support import API, wait_until

WAIT = '/tool remember {"key": "k", "value": 1}'  # parks the run: in flight until decided
LONG = " ".join(f"word{i}" for i in range(60))  # 60 deltas at 20 ms: over a second of work


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {
        "max_runs_in_flight_per_user": 2,
        "max_queued_runs_per_user": 1,
        "max_concurrent_runs": 3,
        "token_delay_ms": 20,
        "delta_coalesce_ms": 0,
    }


async def caller_of(services: Services, headers: dict[str, str]) -> Caller:
    return await services.users.authenticate(headers["Authorization"].removeprefix("Bearer "))


async def start(services: Services, caller: Caller, message: str, **options: Any) -> Run:
    return await services.runs.start(
        caller,
        session_id=options.get("session_id"),
        message=message,
        agent=None,
        client_message_id=None,
        on_busy=options.get("on_busy", OnBusy.REJECT),
    )


async def test_runs_in_flight_past_the_cap_answer_429(
    client: httpx.AsyncClient, services: Services
) -> None:
    headers = await make_user(services)
    for _ in range(2):
        parked = await client.post(f"{API}/agent/message", headers=headers, json={"message": WAIT})
        assert parked.status_code == 202, parked.text

    refused = await client.post(f"{API}/agent/message", headers=headers, json={"message": WAIT})
    problem = assert_problem(refused, 429, "too_many_runs_in_flight")
    assert problem["limit"] == 2
    assert int(refused.headers["retry-after"]) >= 1
    streamed = await client.post(
        f"{API}/agent/message/stream", headers=headers, json={"message": "hi"}
    )
    assert_problem(streamed, 429, "too_many_runs_in_flight")
    assert await Run.all().count() == 2  # nothing of the refused runs was written
    # Another user is not affected.
    other = await make_user(services)
    response = await client.post(f"{API}/agent/message", headers=other, json={"message": "hi"})
    assert response.status_code == 200, response.text


async def test_a_decided_run_frees_its_place(client: httpx.AsyncClient, services: Services) -> None:
    headers = await make_user(services)
    parked = [
        await client.post(f"{API}/agent/message", headers=headers, json={"message": WAIT})
        for _ in range(2)
    ]
    approval_id = parked[0].json()["approval"]["id"]
    decided = await client.post(
        f"{API}/approvals/{approval_id}/decision", headers=headers, json={"decision": "approve"}
    )
    assert decided.status_code == 200, decided.text
    run_id = parked[0].json()["run"]["id"]

    async def ended() -> bool:
        return (await Run.get(id=run_id)).status is RunStatus.COMPLETED

    await wait_until(ended)
    response = await client.post(f"{API}/agent/message", headers=headers, json={"message": "hi"})
    assert response.status_code == 200, response.text


async def test_queued_runs_past_the_cap_answer_429(
    client: httpx.AsyncClient, services: Services
) -> None:
    headers = await make_user(services)
    caller = await caller_of(services, headers)
    session = await make_session(client, headers)
    await start(services, caller, WAIT, session_id=session["id"])
    await start(services, caller, "queued", session_id=session["id"], on_busy=OnBusy.ENQUEUE)

    with pytest.raises(TooManyRequests) as refused:
        await start(services, caller, "more", session_id=session["id"], on_busy=OnBusy.ENQUEUE)
    assert refused.value.code == "too_many_queued_runs"
    assert refused.value.headers["Retry-After"] == "2"
    # Over HTTP the same refusal is a 429 problem.
    body = {"session_id": session["id"], "message": "more", "on_busy": "enqueue"}
    response = await client.post(f"{API}/agent/message", headers=headers, json=body)
    assert_problem(response, 429, "too_many_queued_runs")
    assert response.headers["retry-after"] == "2"
    # Rejecting on a busy session still answers 409, not the cap.
    body["on_busy"] = "reject"
    busy = await client.post(f"{API}/agent/message", headers=headers, json=body)
    assert_problem(busy, 409, "session_busy")
    assert await Run.filter(session_id=session["id"]).count() == 2


async def assert_six_starts_admit_two(client: httpx.AsyncClient, services: Services) -> None:
    """Six concurrent starts of one user under a cap of two: two 202s, four 429s, two runs."""
    headers = await make_user(services)
    responses = await asyncio.gather(
        *(
            client.post(f"{API}/agent/message", headers=headers, json={"message": WAIT})
            for _ in range(6)
        )
    )
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [202, 202, 429, 429, 429, 429], [r.text for r in responses]
    assert await Run.all().count() == 2


async def test_concurrent_starts_cannot_pass_the_cap_together(
    client: httpx.AsyncClient, services: Services
) -> None:
    await assert_six_starts_admit_two(client, services)


async def test_starts_counted_at_once_still_cannot_pass_the_cap(
    client: httpx.AsyncClient, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every start pauses between its count and its commit: the user's lock must order them."""
    counted = Run.load_of_owner.__func__  # type: ignore[attr-defined]

    async def slow_count(cls: type[Run], *args: Any, **kwargs: Any) -> Any:
        load = await counted(cls, *args, **kwargs)
        await asyncio.sleep(0.05)  # without the lock, every start would count before any commits
        return load

    monkeypatch.setattr(Run, "load_of_owner", classmethod(slow_count))
    await assert_six_starts_admit_two(client, services)


async def test_a_busy_user_does_not_queue_another_users_run(
    client: httpx.AsyncClient, services: Services
) -> None:
    busy = await caller_of(services, await make_user(services))
    accepted: list[Run] = []
    for _ in range(5):  # more than the process drives at once (max_concurrent_runs=3)
        try:
            accepted.append(await start(services, busy, LONG))
        except TooManyRequests:
            pass
    assert len(accepted) == 2

    other = await make_user(services)
    response = await client.post(f"{API}/agent/message", headers=other, json={"message": "hi"})
    assert response.status_code == 200, response.text
    assert response.json()["run"]["status"] == "completed"
    # The other user's run did not wait for a busy user's run to end.
    statuses = {(await Run.get(id=run.id)).status for run in accepted}
    assert statuses == {RunStatus.RUNNING}


async def test_answering_the_history_counts_against_the_caps(
    client: httpx.AsyncClient, services: Services
) -> None:
    headers = await make_user(services)
    session = await make_session(client, headers)
    question = {"role": "user", "content": "answer me"}
    await client.post(f"{API}/sessions/{session['id']}/messages", headers=headers, json=question)
    for _ in range(2):
        parked = await client.post(f"{API}/agent/message", headers=headers, json={"message": WAIT})
        assert parked.status_code == 202, parked.text

    body = {"session_id": session["id"]}
    refused = await client.post(f"{API}/agent/message", headers=headers, json=body)

    assert_problem(refused, 429, "too_many_runs_in_flight")
    assert await Run.filter(session_id=session["id"]).count() == 0
