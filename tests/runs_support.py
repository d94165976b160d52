"""Helpers for agent-run tests: read SSE streams, wait for states, check event shapes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from httpx_sse import aconnect_sse

API = "/api/v1"
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


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The response is an RFC 9457 problem with this status and code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code, body
    for key in ("type", "title", "detail"):
        assert key in body
    return body
