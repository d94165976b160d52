"""The per-user request rate limit: 429 with Retry-After, per user, shared by every worker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from core.errors import TooManyRequests
from models import RequestCount, User
from services import Services
from services.auth import RateLimiter
from tests.factories import make_user
from tests.problems import assert_problem

API = "/api/v1"
# 15 seconds into a minute: the window ends 45 seconds later.
NOW = datetime(2026, 11, 30, 12, 0, 15, tzinfo=UTC)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"rate_limit_per_minute": 3}


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    """The time the rate limiter reads; tests move it by replacing clock[0]."""
    now = [NOW]
    monkeypatch.setattr("services.auth.rate.utcnow", lambda: now[0])
    return now


async def test_requests_past_the_limit_answer_429_with_retry_after(
    client: httpx.AsyncClient, services: Services, clock: list[datetime]
) -> None:
    alice = await make_user(services)
    for _ in range(3):
        assert (await client.get(f"{API}/sessions", headers=alice)).status_code == 200
    refused = await client.post(f"{API}/sessions", json={}, headers=alice)
    problem = assert_problem(refused, 429, "rate_limited")
    assert problem["limit"] == 3
    assert refused.headers["retry-after"] == "45"

    bob = await make_user(services)  # the limit is per user
    assert (await client.get(f"{API}/sessions", headers=bob)).status_code == 200
    assert (await client.get("/healthz")).status_code == 200  # probes are not counted

    clock[0] = NOW + timedelta(seconds=45)  # the next window
    assert (await client.get(f"{API}/sessions", headers=alice)).status_code == 200


async def test_unauthenticated_requests_are_not_counted(
    client: httpx.AsyncClient, services: Services, clock: list[datetime]
) -> None:
    alice = await make_user(services)
    for _ in range(5):
        response = await client.get(f"{API}/sessions", headers={"Authorization": "Bearer x"})
        assert_problem(response, 401, "unauthorized")
    assert (await client.get(f"{API}/sessions", headers=alice)).status_code == 200


@pytest.mark.parametrize("settings_overrides", [{"rate_limit_per_minute": 0}])
async def test_zero_turns_the_limit_off(
    client: httpx.AsyncClient, services: Services, clock: list[datetime]
) -> None:
    alice = await make_user(services)
    for _ in range(10):
        assert (await client.get(f"{API}/sessions", headers=alice)).status_code == 200


@pytest.mark.parametrize("dialect", ["postgres"], indirect=True)
async def test_the_limit_holds_across_workers(services: Services, clock: list[datetime]) -> None:
    # Each worker process has a limiter of its own; they share the database's counts.
    workers = [RateLimiter(services.database, 3), RateLimiter(services.database, 3)]
    user = await User.create(username="alice")
    admitted = 0
    for worker in workers * 3:
        try:
            await worker.admit(user.id)
            admitted += 1
        except TooManyRequests as refused:
            assert refused.code == "rate_limited"
            assert refused.headers["Retry-After"] == "45"
    assert admitted == 3
    assert [r.count for r in await RequestCount.all()] == [3]

    clock[0] = NOW + timedelta(minutes=2)  # a later window: the old count is dropped
    await workers[1].admit(user.id)
    assert [r.count for r in await RequestCount.all()] == [1]
