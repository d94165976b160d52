"""Assertions on RFC 9457 problem responses."""

from __future__ import annotations

from typing import Any

import httpx

PROBLEM_FIELDS = {"type", "title", "status", "detail", "code"}


def assert_problem(
    response: httpx.Response, status: int, code: str | None = None
) -> dict[str, Any]:
    """Assert `response` is a problem+json with this status (and code); return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body: dict[str, Any] = response.json()
    assert PROBLEM_FIELDS <= set(body), body
    assert body["status"] == status
    assert body["type"] == f"urn:terrapin:problem:{body['code']}"
    if code is not None:
        assert body["code"] == code, body
    return body
