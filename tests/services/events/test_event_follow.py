"""Following a run's log survives a database that is briefly unavailable."""

from __future__ import annotations

import asyncio
from uuid import UUID

import httpx
import pytest

from models import EventType, Run, RunStatus
from services import Services
from services.events import StoredEvent, StreamHub
from tests.factories import make_session, make_user


async def test_follow_retries_reads_the_database_could_not_answer(
    client: httpx.AsyncClient, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = await make_user(services)
    turn = await client.post("/api/v1/agent/message", json={"message": "hi"}, headers=headers)
    assert turn.status_code == 200, turn.text
    run_id = UUID(turn.json()["run"]["id"])

    log = services.events
    real_read = log.read
    failures = [TimeoutError("no pooled connection in time"), ConnectionError("reset")]

    async def flaky_read(run: UUID, after: int, limit: int = 500) -> list[StoredEvent]:
        if failures:
            raise failures.pop(0)
        return await real_read(run, after, limit)

    monkeypatch.setattr(log, "read", flaky_read)
    monkeypatch.setattr(log, "hub", StreamHub())  # nothing cached: follow must read the database
    monkeypatch.setattr(log, "poll_seconds", 0.01)
    events = [event async for event in log.follow(run_id, 0)]
    assert not failures
    assert [event.seq for event in events] == list(range(1, len(events) + 1))
    assert events[-1].type == "done"


async def test_a_draining_follower_stops_instead_of_retrying(
    client: httpx.AsyncClient, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = await make_user(services)
    turn = await client.post("/api/v1/agent/message", json={"message": "hi"}, headers=headers)
    run_id = UUID(turn.json()["run"]["id"])
    log = services.events

    async def unavailable(run: UUID, after: int, limit: int = 500) -> list[StoredEvent]:
        raise TimeoutError("no pooled connection in time")

    monkeypatch.setattr(log, "read", unavailable)
    monkeypatch.setattr(log, "hub", StreamHub())
    monkeypatch.setattr(log, "draining", True)
    assert [event async for event in log.follow(run_id, 0)] == []


async def test_followers_wake_for_a_batch_whose_emitter_was_cancelled(
    client: httpx.AsyncClient, services: Services
) -> None:
    headers = await make_user(services)
    session = await make_session(client, headers)
    run = await Run.create(session_id=session["id"], agent="default", status=RunStatus.RUNNING)
    follower = asyncio.create_task(services.events.hub.wait(run.id, 0, max_wait=30))
    emitter = asyncio.create_task(services.events.emit(run.id, EventType.DELTA, {"text": "x"}))
    await asyncio.sleep(0)  # the event is queued for the next batch
    emitter.cancel()
    # The batch still commits; it must also wake the followers (the listener
    # skips this process's own notifications, so nothing else would).
    await asyncio.wait_for(follower, timeout=5)
    assert [event.seq for event in await services.events.read(run.id, 0)] == [1]


async def test_a_stream_ends_when_its_session_is_deleted(
    client: httpx.AsyncClient, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = await make_user(services)
    turn = await client.post(
        "/api/v1/agent/message",
        json={"message": '/tool remember {"key": "k", "value": "v"}'},
        headers=headers,
    )
    assert turn.status_code == 202, turn.text  # waits for an approval: its log stays open
    run_id, session_id = UUID(turn.json()["run"]["id"]), turn.json()["run"]["session_id"]
    monkeypatch.setattr(services.events, "poll_seconds", 0.05)

    async def follow_all() -> list[StoredEvent]:
        return [event async for event in services.events.follow(run_id, 0)]

    follower = asyncio.create_task(follow_all())
    await asyncio.sleep(0.2)
    assert not follower.done()
    deleted = await client.delete(f"/api/v1/sessions/{session_id}", headers=headers)
    assert deleted.status_code == 204
    # Deleting the session cancels its run; whether the stream sees that end or
    # finds the run gone, it ends instead of polling forever.
    events = await asyncio.wait_for(follower, 10)
    assert events[-1].type in {"done", "approval_required"}
