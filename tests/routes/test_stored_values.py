"""JSON that could be stored but not read back is refused before anything is written."""

from __future__ import annotations

import httpx

from core.storable import MAX_JSON_DEPTH
from models import AgentContext, ChatSession, Message
from services import Services
from tests.factories import make_session, make_user
from tests.problems import assert_problem

API = "/api/v1"
JSON = {"Content-Type": "application/json"}


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
