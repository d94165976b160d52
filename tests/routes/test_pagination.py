"""Keyset pagination: stable under concurrent inserts; cursors are validated."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from services import Services
from tests.factories import make_session, make_user
from tests.problems import assert_problem

API = "/api/v1"


async def _while_inserting(
    insert: Callable[[int], Awaitable[Any]], reader: Awaitable[list[Any]]
) -> list[Any]:
    """Run `reader` to completion while `insert` keeps adding rows."""
    stop = asyncio.Event()
    inserted = 0

    async def writer() -> None:
        nonlocal inserted
        while not stop.is_set():
            await insert(inserted)
            inserted += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(writer())
    try:
        return await reader
    finally:
        stop.set()
        await task
        assert inserted > 0  # the reader really overlapped with inserts


async def _pages(
    client: httpx.AsyncClient, url: str, auth: dict[str, str], **params: Any
) -> list[Any]:
    items: list[Any] = []
    cursor: str | None = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await client.get(url, params=query, headers=auth)
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items
        await asyncio.sleep(0.005)  # give the writer room between pages


async def test_session_pages_never_skip_or_repeat_under_inserts(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    existing = [(await make_session(client, auth, title=f"old{i}"))["id"] for i in range(24)]

    async def insert(i: int) -> None:
        await make_session(client, auth, title=f"new{i}")

    seen = await _while_inserting(insert, _pages(client, f"{API}/sessions", auth, limit=5))
    ids = [s["id"] for s in seen]
    assert len(ids) == len(set(ids)), "a session was repeated"
    assert [i for i in ids if i in set(existing)] == list(reversed(existing))


async def test_message_pages_never_skip_or_repeat_under_inserts(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    sid = (await make_session(client, auth))["id"]
    url = f"{API}/sessions/{sid}/messages"
    for i in range(24):
        await client.post(url, json={"role": "user", "content": f"old{i}"}, headers=auth)

    async def insert(i: int) -> None:
        response = await client.post(url, json={"role": "user", "content": f"new{i}"}, headers=auth)
        assert response.status_code == 201

    forward = await _while_inserting(insert, _pages(client, url, auth, limit=5))
    seqs = [m["seq"] for m in forward]
    assert seqs == list(range(1, len(seqs) + 1))  # ascending, gapless, no repeats
    assert len(seqs) >= 24

    backward: list[Any] = []

    async def read_back() -> list[Any]:
        page = (await client.get(url, params={"before_seq": 25, "limit": 5}, headers=auth)).json()
        backward.extend(page["items"])
        while page["next_cursor"]:
            params = {"cursor": page["next_cursor"], "limit": 5}
            page = (await client.get(url, params=params, headers=auth)).json()
            backward[:0] = page["items"]
            await asyncio.sleep(0.005)
        return backward

    await _while_inserting(insert, read_back())
    assert [m["seq"] for m in backward] == list(range(1, 25))


def _b64(payload: Any) -> str:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


FORGED_SESSION_CURSORS = [
    "garbage!!",
    "%%%",
    _b64(b"\xff\xfe not json"),
    _b64([1, 2]),
    _b64({"u": "2024-01-01T00:00:00+00:00"}),
    _b64({"u": "2024-01-01T00:00:00", "i": "9b2c7a1e-0a7e-4a9e-9d53-6a8f0c3b1d11"}),  # naive
    _b64({"u": "yesterday", "i": "9b2c7a1e-0a7e-4a9e-9d53-6a8f0c3b1d11"}),
    _b64({"u": "2024-01-01T00:00:00+00:00", "i": "not-a-uuid"}),
    _b64({"u": 5, "i": 7}),
    _b64({"d": "after", "s": 3}),  # a message cursor
    # In range as written, out of range in UTC (PostgreSQL answered 500).
    _b64({"u": "0001-01-01T00:00:00+14:00", "i": "9b2c7a1e-0a7e-4a9e-9d53-6a8f0c3b1d11"}),
    _b64({"u": "9999-12-31T23:59:59-14:00", "i": "9b2c7a1e-0a7e-4a9e-9d53-6a8f0c3b1d11"}),
]

FORGED_MESSAGE_CURSORS = [
    "garbage!!",
    _b64({"d": "sideways", "s": 3}),
    _b64({"d": "after", "s": -1}),
    _b64({"d": "after", "s": "3"}),
    _b64({"d": "after", "s": 3.5}),
    _b64({"d": "after", "s": True}),
    _b64({"d": "after", "s": 2**40}),
    _b64({"d": "after", "s": 3, "x": 1}),
    _b64({"d": "before", "s": 3, "b": 5}),  # only a page after a seq has an upper bound
    _b64({"d": "after", "s": 3, "b": -1}),
    _b64({"d": "after", "s": 3, "b": "5"}),
    _b64({"d": "after", "s": 3, "b": 2**31}),
    _b64({"u": "2024-01-01T00:00:00+00:00", "i": "9b2c7a1e-0a7e-4a9e-9d53-6a8f0c3b1d11"}),
]


async def test_forged_cursors_are_400_invalid_cursor(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    sid = (await make_session(client, auth))["id"]
    for cursor in FORGED_SESSION_CURSORS:
        response = await client.get(f"{API}/sessions", params={"cursor": cursor}, headers=auth)
        assert_problem(response, 400, "invalid_cursor")
    for cursor in FORGED_MESSAGE_CURSORS:
        response = await client.get(
            f"{API}/sessions/{sid}/messages", params={"cursor": cursor}, headers=auth
        )
        assert_problem(response, 400, "invalid_cursor")
    too_long = await client.get(f"{API}/sessions", params={"cursor": "a" * 513}, headers=auth)
    assert_problem(too_long, 422, "validation_error")
