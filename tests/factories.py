"""Test data builders that go through the real services."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from services import Services


async def make_user(services: Services, *, admin: bool = False) -> dict[str, str]:
    """Create a user; return auth headers carrying its fresh token."""
    issued = await services.users.create_user(f"user-{uuid.uuid4().hex[:8]}", is_admin=admin)
    return {"Authorization": f"Bearer {issued.token}"}


async def make_session(
    client: httpx.AsyncClient, headers: dict[str, str], **body: Any
) -> dict[str, Any]:
    """Create a session through the API and return its JSON."""
    response = await client.post("/api/v1/sessions", json=body, headers=headers)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


def raw_headers(headers: dict[str, str], extra: dict[str, bytes]) -> list[tuple[bytes, bytes]]:
    """`headers` plus `extra` given as raw bytes (values a str header cannot hold)."""
    return [(k.encode(), v.encode()) for k, v in headers.items()] + [
        (k.encode(), v) for k, v in extra.items()
    ]
