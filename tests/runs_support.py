"""Helpers for agent-run tests: read SSE streams, wait for states, check event shapes."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from httpx_sse import aconnect_sse

from tests.problems import assert_problem

API = "/api/v1"

__all__ = ["assert_problem"]
STREAM_TIMEOUT = 30.0


@dataclass(frozen=True)
class Event:
    """One received SSE event."""

    type: str
    id: int
    data: dict[str, Any]


async def read_events(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    headers: dict[str, str],
    json_body: dict[str, Any] | None = None,
    params: dict[str, str] | None = None,
    limit: int | None = None,
) -> list[Event]:
    """Open an SSE stream and collect its events until it ends (or `limit` events)."""
    events: list[Event] = []
    async with asyncio.timeout(STREAM_TIMEOUT):
        async with aconnect_sse(
            client, method, url, headers=headers, json=json_body, params=params
        ) as source:
            response = source.response
            if response.status_code != 200:
                await response.aread()
                raise AssertionError(f"{response.status_code}: {response.text}")
            assert response.headers["content-type"].startswith("text/event-stream")
            async for sse in source.aiter_sse():
                events.append(Event(sse.event, int(sse.id), json.loads(sse.data)))
                if limit is not None and len(events) >= limit:
                    break
    return events


async def stream_message(
    client: httpx.AsyncClient, headers: dict[str, str], **body: Any
) -> list[Event]:
    """POST /agent/message/stream and collect the whole stream."""
    return await read_events(
        client, "POST", f"{API}/agent/message/stream", headers=headers, json_body=body
    )


async def run_events(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    run_id: str,
    *,
    last_event_id: int | str | None = None,
    after: int | str | None = None,
) -> list[Event]:
    """GET /runs/{id}/events (replay, then live until the run ends)."""
    extra = dict(headers)
    if last_event_id is not None:
        extra["Last-Event-ID"] = str(last_event_id)
    params = {"after": str(after)} if after is not None else None
    return await read_events(
        client, "GET", f"{API}/runs/{run_id}/events", headers=extra, params=params
    )


def types(events: list[Event]) -> list[str]:
    """The event types, in order."""
    return [event.type for event in events]


def assert_ids(events: list[Event], first: int = 1) -> None:
    """Event ids are consecutive integers from `first`."""
    assert [event.id for event in events] == list(range(first, first + len(events)))


def delta_text(events: list[Event]) -> str:
    """The concatenated text of the delta events."""
    return "".join(event.data["text"] for event in events if event.type == "delta")


async def wait_until(
    check: Callable[[], Awaitable[Any]], *, within: float = 15.0, interval: float = 0.02
) -> Any:
    """Poll `check` until it returns something truthy; return that."""
    async with asyncio.timeout(within):
        while True:
            value = await check()
            if value:
                return value
            await asyncio.sleep(interval)


async def get_json(client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> Any:
    """GET a JSON resource that must exist."""
    response = await client.get(f"{API}{url}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def messages(
    client: httpx.AsyncClient, headers: dict[str, str], session_id: str
) -> list[dict[str, Any]]:
    """Every message of a session (ascending seq)."""
    page = await get_json(client, f"/sessions/{session_id}/messages?limit=500", headers)
    items: list[dict[str, Any]] = page["items"]
    return items


class LiveServer:
    """The test's app (with its running lifespan) served by uvicorn on a free port.

    In-process httpx buffers whole responses; a real socket is needed to read a
    stream partially and to disconnect mid-stream.
    """

    def __init__(self, app: Any) -> None:
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, lifespan="off", log_level="warning", ws="none"
        )
        self._server = _QuietServer(config)
        self._task: asyncio.Task[None] | None = None
        self.url = ""

    async def __aenter__(self) -> LiveServer:
        self._task = asyncio.create_task(self._server.serve())
        await wait_until(self._started, within=10)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def _started(self) -> bool:
        assert self._task is not None
        if self._task.done():
            self._task.result()
        return bool(self._server.started)

    async def __aexit__(self, *exc: object) -> None:
        self._server.should_exit = True
        if self._task is not None:
            await self._task


class _QuietServer(uvicorn.Server):
    """uvicorn without its signal handlers (pytest owns the process)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
