"""Cross-process wake-ups: an event committed elsewhere reaches local followers at once."""

from __future__ import annotations

import asyncio
import json
import uuid

import asyncpg
import httpx
import pytest

from services import Services
from services.events import StoredEvent, StreamHub
from services.events.notifier import CHANNEL, PgListener, payloads
from tests.databases import asyncpg_dsn
from tests.factories import make_user


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    # Without the notification, the follower would only look again after 30 s.
    return {"stream_poll_seconds": 30, "delta_coalesce_ms": 0}


def test_payloads_keep_the_newest_seq_per_run_and_stay_small() -> None:
    run_a, run_b = uuid.uuid4(), uuid.uuid4()
    events = [
        StoredEvent(run_a, 1, "x", {}),
        StoredEvent(run_a, 3, "x", {}),
        StoredEvent(run_b, 2, "x", {}),
    ]
    assert payloads(events) == [f"{run_a}:3,{run_b}:2"]
    many = [StoredEvent(uuid.uuid4(), 1, "x", {}) for _ in range(500)]
    chunks = payloads(many)
    assert len(chunks) > 1
    assert all(len(chunk) < 8000 for chunk in chunks)
    assert sum(len(chunk.split(",")) for chunk in chunks) == 500


async def test_event_written_by_another_process_wakes_a_waiting_follower(
    dialect: str, database_url: str, client: httpx.AsyncClient, services: Services
) -> None:
    if dialect != "postgres":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's; SQLite serves one process")
    headers = await make_user(services)
    started = await client.post(
        "/api/v1/agent/message",
        json={"message": '/tool remember {"key": "k", "value": 1}'},
        headers=headers,
    )
    assert started.status_code == 202, started.text
    run_id = uuid.UUID(started.json()["run"]["id"])
    last = started.json()["run"]["last_event_id"]
    follower = services.events.follow(run_id, last)
    next_event = asyncio.ensure_future(follower.__anext__())
    await asyncio.sleep(0.5)  # the follower has caught up and waits
    assert not next_event.done()

    other = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        async with other.transaction():
            seq = await other.fetchval(
                "UPDATE run SET event_count = event_count + 1 WHERE id = $1 RETURNING event_count",
                run_id,
            )
            await other.execute(
                "INSERT INTO run_event (run_id, seq, type, data, created_at) "
                "VALUES ($1, $2, 'note', $3, now())",
                run_id,
                seq,
                json.dumps({"from": "elsewhere"}),
            )
            await other.execute("SELECT pg_notify($1, $2)", CHANNEL, f"{run_id}:{seq}")
    finally:
        await other.close()

    event = await asyncio.wait_for(next_event, timeout=5)
    assert (event.seq, event.type, event.data) == (seq, "note", {"from": "elsewhere"})
    await follower.aclose()


async def test_listener_skips_notifications_of_its_own_hubs_events() -> None:
    # Its process gives those events to the hub right after their commit: waking
    # followers before that would only send them to the database.
    hub = StreamHub()
    listener = PgListener("postgres://nobody@127.0.0.1/none", hub)
    run_id = uuid.uuid4()
    own = payloads([StoredEvent(run_id, 2, "x", {})], hub.origin)
    assert own == [f"@{hub.origin},{run_id}:2"]
    waiting = asyncio.ensure_future(hub.wait(run_id, 0, 5))
    await asyncio.sleep(0)
    listener._on_notification(None, 0, CHANNEL, own[0])
    await asyncio.sleep(0.05)
    assert not waiting.done()
    other = payloads([StoredEvent(run_id, 3, "x", {})], StreamHub().origin)
    listener._on_notification(None, 0, CHANNEL, other[0])
    await asyncio.wait_for(waiting, timeout=1)
    assert hub.tail_after(run_id, 0) is None  # the gap is read from the database


def test_payloads_with_an_origin_name_it_in_every_chunk() -> None:
    many = [StoredEvent(uuid.uuid4(), 1, "x", {}) for _ in range(500)]
    chunks = payloads(many, "abc")
    assert len(chunks) > 1
    assert all(chunk.startswith("@abc,") and len(chunk) < 8000 for chunk in chunks)
    assert sum(len(chunk.split(",")) - 1 for chunk in chunks) == 500
