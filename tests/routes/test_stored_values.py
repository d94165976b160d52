"""JSON that could be stored but not read back is refused; sizes are UTF-8 bytes, 413 alike."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from core.storable import MAX_JSON_DEPTH
from models import AgentContext, ChatSession, Message
from services import Services
from tests.factories import make_session, make_user
from tests.problems import assert_problem

API = "/api/v1"
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"max_message_bytes": 1000, "max_metadata_bytes": 1000, "max_context_bytes": 1000}


def nested(levels: int) -> str:
    """JSON text of an object nesting `levels` objects (`{"a":1}` is one level)."""
    return '{"a":' * levels + "1" + "}" * levels


async def _counts() -> tuple[int, int, int, int]:
    versions = sum(await AgentContext.all().values_list("version", flat=True))  # type: ignore[arg-type]
    return (
        await ChatSession.all().count(),
        await Message.all().count(),
        await AgentContext.all().count(),
        versions,
    )


def _targets(sid: str) -> list[tuple[str, str, str, list[str]]]:
    """(method, path, body template, loc of the JSON field) for every stored JSON object."""
    return [
        ("POST", "/sessions", '{"metadata": %s}', ["body", "metadata"]),
        ("PATCH", f"/sessions/{sid}", '{"metadata": %s}', ["body", "metadata"]),
        (
            "POST",
            f"/sessions/{sid}/messages",
            '{"role": "user", "content": "x", "metadata": %s}',
            ["body", "metadata"],
        ),
        ("PUT", f"/sessions/{sid}/context", '{"data": %s}', ["body", "data"]),
    ]


async def _send(
    client: httpx.AsyncClient, auth: dict[str, str], method: str, path: str, body: str
) -> httpx.Response:
    headers = {**auth, **JSON, "If-Match": "*"}
    return await client.request(method, f"{API}{path}", content=body.encode(), headers=headers)


async def _reads_work(client: httpx.AsyncClient, auth: dict[str, str], sid: str) -> None:
    for path in ("/sessions", f"/sessions/{sid}", f"/sessions/{sid}/messages"):
        response = await client.get(f"{API}{path}", headers=auth)
        assert response.status_code == 200, (path, response.text)
    context = await client.get(f"{API}/sessions/{sid}/context", headers=auth)
    assert context.status_code == 200, context.text


async def test_deeply_nested_json_is_refused_before_anything_is_stored(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    sid = (await make_session(client, auth))["id"]
    before = await _counts()
    for method, path, template, loc in _targets(sid):
        for levels in (MAX_JSON_DEPTH + 1, 255, 256):
            response = await _send(client, auth, method, path, template % nested(levels))
            problem = assert_problem(response, 422, "validation_error")
            assert problem["errors"][0]["loc"] == loc, problem
            assert f"deeper than {MAX_JSON_DEPTH} levels" in problem["errors"][0]["msg"]
        hostile = await _send(client, auth, method, path, template % nested(10_000))
        assert 400 <= hostile.status_code < 500, hostile.text
    assert await _counts() == before
    await _reads_work(client, auth, sid)


async def test_json_at_the_depth_limit_is_stored_and_read_back(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    sid = (await make_session(client, auth))["id"]
    deepest = nested(MAX_JSON_DEPTH - 1)  # inside the metadata object: the limit exactly
    for method, path, template, _ in _targets(sid):
        response = await _send(client, auth, method, path, template % f'{{"x": {deepest}}}')
        assert response.status_code in (200, 201), (path, response.text)
    await _reads_work(client, auth, sid)


async def test_metadata_size_counts_utf8_bytes(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    sid = (await make_session(client, auth))["id"]
    # {"m":"éé…"} compact: 8 bytes of syntax and 2 per "é"; the limit is 1000 bytes.
    fits, too_big = {"m": "é" * 496}, {"m": "é" * 497}
    created = await client.post(f"{API}/sessions", json={"metadata": fits}, headers=auth)
    assert created.status_code == 201, created.text
    assert created.json()["metadata"] == fits
    appended = await client.post(
        f"{API}/sessions/{sid}/messages",
        json={"role": "user", "content": "x", "metadata": fits},
        headers=auth,
    )
    assert appended.status_code == 201, appended.text
    refused = await client.post(f"{API}/sessions", json={"metadata": too_big}, headers=auth)
    assert_problem(refused, 413, "payload_too_large")


async def test_oversize_content_metadata_and_context_answer_413_alike(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    sid = (await make_session(client, auth))["id"]
    before = await _counts()
    big = {"blob": "x" * 1000}
    cases: list[tuple[str, str, dict[str, Any], list[str]]] = [
        ("POST", "/sessions", {"metadata": big}, ["body", "metadata"]),
        ("PATCH", f"/sessions/{sid}", {"metadata": big}, ["body", "metadata"]),
        (
            "POST",
            f"/sessions/{sid}/messages",
            {"role": "user", "content": "x", "metadata": big},
            ["body", "metadata"],
        ),
        (
            "POST",
            f"/sessions/{sid}/messages",
            {"role": "user", "content": "é" * 501},
            ["body", "content"],
        ),
        ("PUT", f"/sessions/{sid}/context", {"data": big}, ["body", "data"]),
        ("POST", "/agent/message", {"session_id": sid, "message": "x" * 1001}, ["body", "message"]),
    ]
    for method, path, body, loc in cases:
        response = await client.request(
            method, f"{API}{path}", json=body, headers={**auth, "If-Match": "*"}
        )
        problem = assert_problem(response, 413, "payload_too_large")
        assert problem["limit_bytes"] == 1000, problem
        assert problem["errors"] == [
            {"loc": loc, "msg": problem["errors"][0]["msg"], "type": "too_long"}
        ], problem
        assert problem["errors"][0]["msg"].startswith("exceeds 1000 bytes"), problem
    assert await _counts() == before
