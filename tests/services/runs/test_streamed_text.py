"""Streamed text reaches clients on time, and a run cut short ends with the text it stored."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import httpx
import pytest

from models import EventType, Message, MessageRole, RunEvent
from services import Services
from services.events import EventDraft
from services.events.log import EventOutcome
from tests.agent.test_openai_provider import chunk
from tests.factories import make_user
from tests.fake_openai import FakeOpenAI
from tests.runs_support import API, Event, delta_text, messages, stream_message, wait_until

COALESCE_MS = 100
TIMEOUT_SECONDS = 4
STALL_SECONDS = 20


@pytest.fixture
def settings_overrides(fake_openai: FakeOpenAI) -> dict[str, Any]:
    return {
        "agent_provider": "openai",
        "openai_base_url": fake_openai.base_url,
        "openai_api_key": "test-key",
        "agent_request_timeout_seconds": TIMEOUT_SECONDS,
        "delta_coalesce_ms": COALESCE_MS,
    }


async def first_delta() -> RunEvent | None:
    return await RunEvent.filter(type=EventType.DELTA).order_by("id").first()


async def test_text_is_flushed_on_time_while_the_provider_stalls(
    client: httpx.AsyncClient, services: Services, fake_openai: FakeOpenAI
) -> None:
    fake_openai.reply(
        [chunk(content="Hello"), chunk(content=" world"), chunk(finish_reason="stop")],
        stall_after=1,
        stall_seconds=STALL_SECONDS,
    )
    headers = await make_user(services)
    started = time.monotonic()
    stream = asyncio.create_task(stream_message(client, headers, message="hi"))

    delta = await wait_until(first_delta, within=STALL_SECONDS / 2)
    waited = time.monotonic() - started
    assert delta.data["text"] == "Hello"
    # Within the coalescing window (plus scheduling), not when the stall ends or times out.
    assert waited < TIMEOUT_SECONDS / 2, f"the first delta took {waited:.1f}s"

    fake_openai.release.set()  # the provider goes on
    events: list[Event] = await asyncio.wait_for(stream, 30)
    assert events[-1].data["status"] == "completed"
    assert delta_text(events) == "Hello world"
    assert events[-2].type == "message" and events[-2].data["content"] == "Hello world"


@pytest.mark.parametrize(
    "settings_overrides", [{"delta_coalesce_ms": COALESCE_MS, "token_delay_ms": 30}]
)
async def test_a_cancelled_reply_ends_with_the_text_it_stored(
    client: httpx.AsyncClient, services: Services
) -> None:
    headers = await make_user(services)
    long = " ".join(f"w{i}" for i in range(200))
    stream = asyncio.create_task(stream_message(client, headers, message=long))
    delta = await wait_until(first_delta)
    # Cancelled while words arrived since the last delta wait for the next one.
    cancelled = await client.post(f"{API}/runs/{delta.run_id}/cancel", headers=headers)
    assert cancelled.status_code == 200, cancelled.text

    events: list[Event] = await asyncio.wait_for(stream, 30)
    assert events[-1].type == "done" and events[-1].data["status"] == "cancelled"
    session_id = events[0].data["session_id"]
    [stored] = [m for m in await messages(client, headers, session_id) if m["role"] == "assistant"]
    assert stored["status"] == "cancelled"
    assert stored["content"].startswith(delta_text(events))
    last = events[-2]
    assert last.type == "message" and last.data == stored
    # Nothing was logged after the end (a delta on its way when the cancel came, say).
    logged = await RunEvent.filter(run_id=delta.run_id).order_by("-seq").first()
    assert logged is not None and logged.seq == events[-1].id


@pytest.mark.parametrize(
    "settings_overrides", [{"delta_coalesce_ms": COALESCE_MS, "token_delay_ms": 10}]
)
async def test_a_delta_on_its_way_when_the_cancel_comes_is_logged_before_the_end(
    client: httpx.AsyncClient, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = services.events.writer
    write_batch = writer._handler

    async def slow_deltas(drafts: Sequence[EventDraft]) -> Sequence[EventOutcome]:
        if any(draft.type is EventType.DELTA for draft in drafts):
            await asyncio.sleep(0.3)  # each delta is still on its way for a while
        return await write_batch(drafts)

    monkeypatch.setattr(writer, "_handler", slow_deltas)
    headers = await make_user(services)
    long = " ".join(f"w{i}" for i in range(200))
    stream = asyncio.create_task(stream_message(client, headers, message=long))
    delta = await wait_until(first_delta)
    cancelled = await client.post(f"{API}/runs/{delta.run_id}/cancel", headers=headers)
    assert cancelled.status_code == 200, cancelled.text

    events: list[Event] = await asyncio.wait_for(stream, 30)
    assert [event.type for event in events[-2:]] == ["message", "done"]
    await asyncio.sleep(0.5)  # a delta still on its way would be logged by now
    logged = await RunEvent.filter(run_id=delta.run_id).order_by("seq")
    assert [event.seq for event in logged] == [event.id for event in events]
    stored = await Message.get(role=MessageRole.ASSISTANT)
    assert events[-2].data["content"] == stored.content
    assert stored.content.startswith(delta_text(events))


async def test_a_failed_reply_ends_with_the_text_it_stored(
    client: httpx.AsyncClient, services: Services, fake_openai: FakeOpenAI
) -> None:
    # The model stops answering part-way: the provider's timeout fails the run.
    fake_openai.reply(
        [chunk(content="Partial"), chunk(content=" answer")],
        stall_after=1,
        stall_seconds=STALL_SECONDS,
    )
    headers = await make_user(services)
    events: list[Event] = await stream_message(client, headers, message="hi")

    assert events[-1].type == "error", events
    assert delta_text(events) == "Partial"
    stored = await Message.get(role=MessageRole.ASSISTANT)
    assert stored.content == "Partial"
    last = events[-2]
    assert last.type == "message" and last.data["id"] == str(stored.id)
    assert last.data["content"] == "Partial" and last.data["status"] == "interrupted"
