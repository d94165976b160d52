"""Helpers for branch tests: build histories, fork them, read them back in full."""

from __future__ import annotations

from typing import Any

import httpx

API = "/api/v1"


async def append(
    client: httpx.AsyncClient, auth: dict[str, str], sid: str, content: str, role: str = "user"
) -> dict[str, Any]:
    """Append one message; return it."""
    response = await client.post(
        f"{API}/sessions/{sid}/messages", json={"role": role, "content": content}, headers=auth
    )
    assert response.status_code == 201, response.text
    message: dict[str, Any] = response.json()
    return message


async def append_many(
    client: httpx.AsyncClient, auth: dict[str, str], sid: str, prefix: str, count: int
) -> list[dict[str, Any]]:
    """Append `count` messages, alternating user and assistant, named `prefix`-1, -2, …"""
    roles = ("user", "assistant")
    return [
        await append(client, auth, sid, f"{prefix}-{n}", roles[(n - 1) % 2])
        for n in range(1, count + 1)
    ]


async def fork(
    client: httpx.AsyncClient, auth: dict[str, str], sid: str, at_seq: int, **body: Any
) -> dict[str, Any]:
    """Fork a session; return the new session."""
    response = await client.post(
        f"{API}/sessions/{sid}/fork", json={"at_seq": at_seq, **body}, headers=auth
    )
    assert response.status_code == 201, response.text
    session: dict[str, Any] = response.json()
    return session


async def history(
    client: httpx.AsyncClient, auth: dict[str, str], sid: str, limit: int = 500
) -> list[dict[str, Any]]:
    """Every message of a session's history, paged forward `limit` at a time."""
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": limit}
    while True:
        response = await client.get(f"{API}/sessions/{sid}/messages", params=params, headers=auth)
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        if page["next_cursor"] is None:
            return items
        params = {"limit": limit, "cursor": page["next_cursor"]}


async def history_backwards(
    client: httpx.AsyncClient, auth: dict[str, str], sid: str, limit: int
) -> list[dict[str, Any]]:
    """Every message of a session's history, paged backward from the newest."""
    pages: list[list[dict[str, Any]]] = []
    params: dict[str, Any] = {"limit": limit, "before_seq": 2**31 - 1}
    while True:
        response = await client.get(f"{API}/sessions/{sid}/messages", params=params, headers=auth)
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append(page["items"])
        if page["next_cursor"] is None:
            return [item for items in reversed(pages) for item in items]
        params = {"limit": limit, "cursor": page["next_cursor"]}


def contents(messages: list[dict[str, Any]]) -> list[str]:
    """The messages' contents, in order."""
    return [message["content"] for message in messages]
