"""Admission control: past max_concurrent_runs, runs wait their turn and still complete."""

from __future__ import annotations

import asyncio
from typing import cast

import httpx
import pytest

from models import Run, RunStatus
from services import Services
from tests.factories import make_user
from tests.runs_support import wait_until


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"max_concurrent_runs": 1, "delta_coalesce_ms": 0, "token_delay_ms": 5}


async def test_runs_beyond_the_limit_wait_queued_then_complete(
    client: httpx.AsyncClient, services: Services
) -> None:
    headers = await make_user(services)
    bodies = [{"message": f"message number {i} with a few words"} for i in range(4)]
    most_running = 0
    sampling = True

    async def sample() -> None:
        nonlocal most_running
        while sampling:
            most_running = max(most_running, await Run.filter(status=RunStatus.RUNNING).count())
            await asyncio.sleep(0.005)

    sampler = asyncio.create_task(sample())
    started = await asyncio.gather(
        *(client.post("/api/v1/agent/message/stream", json=b, headers=headers) for b in bodies)
    )
    sampling = False
    await sampler
    assert most_running == 1
    assert all(response.status_code == 200 for response in started)
    assert all("event: done" in response.text for response in started)
    # flat=True gives the values themselves; tortoise types every values_list as tuples
    statuses = cast(list[RunStatus], await Run.all().values_list("status", flat=True))
    assert sorted(statuses) == [RunStatus.COMPLETED] * 4

    async def idle() -> bool:
        return services.executor.active == 0

    # A run's task ends a moment after its `done` reaches the client (it promotes the next run).
    await wait_until(idle, within=5)
