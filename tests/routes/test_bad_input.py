"""Bad input gets a 4xx problem+json, never a 500, and never leaves partial data."""

from __future__ import annotations

import json
from typing import Any

import httpx
from fastapi.routing import APIRoute

from models import AgentContext, ChatSession, Message
from routes import api_routers
from routes.bodies import JsonBodyRoute
from services import Services
from tests.factories import make_session, make_user
from tests.problems import assert_problem

API = "/api/v1"
JSON = {"Content-Type": "application/json"}

# (raw body, content type) pairs that are not a valid request object for any POST/PUT.
MALFORMED_BODIES: list[tuple[bytes, str]] = [
    (b'{"title": ', "application/json"),
    (b"not json at all", "application/json"),
    (b"title=x", "application/x-www-form-urlencoded"),
    (b"hello", "text/plain"),
    (b"[]", "application/json"),
    (b"null", "application/json"),
    (b'"a string"', "application/json"),
    (b"\xff\xfe\x00garbage", "application/json"),
    (b"[" * 100_000 + b"]" * 100_000, "application/json"),
    (b'{"metadata": ' + b'{"a":' * 5_000 + b"1" + b"}" * 5_001, "application/json"),
    (b'{"metadata": {"x": NaN}}', "application/json"),
    (b'{"metadata": {"x": Infinity}}', "application/json"),
    (b'{"metadata": {"x": 1e999}}', "application/json"),
    (b'{"metadata": {"x": ' + b"9" * 5000 + b"}}", "application/json"),
    (b'{"data": {"x": NaN}, "role": "user", "content": NaN}', "application/json"),
]

BAD_SESSION_BODIES: list[dict[str, Any]] = [
    {"bogus": 1},
    {"title": 5},
    {"title": ["x"]},
    {"title": "x" * 201},
    {"title": "nul\x00here"},
    {"title": "lone \ud800 surrogate"},
    {"agent": ""},
    {"agent": "has spaces"},
    {"agent": "a" * 65},
    {"metadata": []},
    {"metadata": "{}"},
    {"metadata": {"nul": "\x00"}},
    {"metadata": {"\x00": 1}},
    {"metadata": {"bad": "\udfff"}},
    {"metadata": {"\ud800": 1}},
]

BAD_MESSAGE_BODIES: list[dict[str, Any]] = [
    {},
    {"role": "user"},
    {"content": "x"},
    {"role": "robot", "content": "x"},
    {"role": "USER", "content": "x"},
    {"role": "user", "content": ""},
    {"role": "user", "content": 5},
    {"role": "user", "content": None},
    {"role": "user", "content": "a\x00b"},
    {"role": "user", "content": "lone \ud800 surrogate"},
    {"role": "user", "content": "x", "client_message_id": ""},
    {"role": "user", "content": "x", "client_message_id": "c" * 129},
    {"role": "user", "content": "x", "client_message_id": "nul\x00"},
    {"role": "user", "content": "x", "client_message_id": "\udc80"},
    {"role": "user", "content": "x", "client_message_id": 7},
    {"role": "user", "content": "x", "metadata": {"s": "\ud83d"}},
    {"role": "user", "content": "x", "seq": 1},
    {"role": "user", "content": "x", "status": "streaming"},
]

# Over a configured size: 413 payload_too_large, like the context (routes/limits.py).
OVERSIZE_BODIES: list[tuple[str, dict[str, Any]]] = [
    ("/sessions", {"metadata": {"blob": "x" * (16 * 1024)}}),
    ("{sid}", {"metadata": {"blob": "x" * (16 * 1024)}}),
    ("{sid}/messages", {"role": "user", "content": "x" * (64 * 1024 + 1)}),
    ("{sid}/messages", {"role": "user", "content": "é" * (32 * 1024 + 1)}),  # 64 KiB + 2 bytes
    ("{sid}/messages", {"role": "user", "content": "x", "metadata": {"big": "y" * (16 * 1024)}}),
]

BAD_QUERIES: list[tuple[str, dict[str, Any]]] = [
    ("/sessions", {"limit": 0}),
    ("/sessions", {"limit": 201}),
    ("/sessions", {"limit": -1}),
    ("/sessions", {"limit": "ten"}),
    ("/sessions", {"limit": "1e3"}),
    ("/sessions", {"status": "deleted"}),
    ("/sessions", {"cursor": "x" * 600}),
    ("{sid}/messages", {"limit": 0}),
    ("{sid}/messages", {"limit": 501}),
    ("{sid}/messages", {"after_seq": -1}),
    ("{sid}/messages", {"after_seq": 2**31}),
    ("{sid}/messages", {"before_seq": "x"}),
    ("{sid}/messages", {"after_seq": "NaN"}),
]

BAD_IDS = ["not-a-uuid", "1", "00000000-0000-0000-0000-00000000000g", "%00", "x" * 300]


def _assert_4xx_problem(response: httpx.Response, what: object) -> None:
    assert 400 <= response.status_code < 500, (what, response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/problem+json"), what
    body = response.json()
    assert {"type", "title", "status", "detail", "code"} <= set(body), (what, body)
    assert body["status"] == response.status_code


def _raw_json(body: dict[str, Any]) -> bytes:
    """Serialise like a client that sends lone surrogates and NULs as escapes."""
    return json.dumps(body).encode()


async def _counts() -> tuple[int, int, int]:
    return (
        await ChatSession.all().count(),
        await Message.all().count(),
        await AgentContext.all().count(),
    )


async def test_malformed_bodies_are_4xx_everywhere(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    sid = (await make_session(client, auth))["id"]
    before = await _counts()
    targets = [
        ("POST", "/sessions"),
        ("PATCH", f"/sessions/{sid}"),
        ("POST", f"/sessions/{sid}/messages"),
        ("PUT", f"/sessions/{sid}/context"),
    ]
    for method, path in targets:
        for raw, content_type in MALFORMED_BODIES:
            headers = {**auth, "Content-Type": content_type, "If-Match": '"0"'}
            response = await client.request(method, f"{API}{path}", content=raw, headers=headers)
            _assert_4xx_problem(response, (method, path, raw[:40]))
    assert await _counts() == before


async def test_bad_session_bodies_are_422_with_no_write(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    sid = (await make_session(client, auth, title="keep"))["id"]
    before = await _counts()
    for body in BAD_SESSION_BODIES:
        created = await client.post(
            f"{API}/sessions", content=_raw_json(body), headers={**auth, **JSON}
        )
        body_422 = assert_problem(created, 422, "validation_error")
        assert body_422["errors"], body
        patched = await client.patch(
            f"{API}/sessions/{sid}", content=_raw_json(body), headers={**auth, **JSON}
        )
        if "agent" not in body:  # agent is not a PATCH field: it is "unknown" there
            assert_problem(patched, 422, "validation_error")
        else:
            _assert_4xx_problem(patched, body)
    bad_status = await client.patch(
        f"{API}/sessions/{sid}", json={"status": "deleted"}, headers=auth
    )
    assert_problem(bad_status, 422, "validation_error")
    assert await _counts() == before
    assert (await ChatSession.get(id=sid)).title == "keep"


async def test_title_of_200_characters_is_fine(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    session = await make_session(client, auth, title="t" * 200, metadata={"m": "z" * 16_000})
    assert len(session["title"]) == 200


async def test_bad_message_bodies_are_422_with_no_write(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    sid = (await make_session(client, auth))["id"]
    before = await _counts()
    for body in BAD_MESSAGE_BODIES:
        response = await client.post(
            f"{API}/sessions/{sid}/messages", content=_raw_json(body), headers={**auth, **JSON}
        )
        problem = assert_problem(response, 422, "validation_error")
        assert problem["errors"], body
    assert await _counts() == before
    assert (await ChatSession.get(id=sid)).message_count == 0
    ok = await client.post(
        f"{API}/sessions/{sid}/messages",
        json={"role": "user", "content": "x" * (64 * 1024)},
        headers=auth,
    )
    assert ok.status_code == 201
    assert ok.json()["seq"] == 1


async def test_oversize_fields_are_413_with_no_write(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    sid = (await make_session(client, auth))["id"]
    before = await _counts()
    for path, body in OVERSIZE_BODIES:
        method = "PATCH" if path == "{sid}" else "POST"
        url = f"{API}{path}" if path.startswith("/") else f"{API}/sessions/{path.format(sid=sid)}"
        response = await client.request(method, url, json=body, headers=auth)
        problem = assert_problem(response, 413, "payload_too_large")
        assert problem["errors"][0]["type"] == "too_long", body
    assert await _counts() == before


async def test_bad_context_bodies_are_4xx_with_no_write(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    sid = (await make_session(client, auth))["id"]
    url = f"{API}/sessions/{sid}/context"
    headers = {**auth, **JSON, "If-Match": '"0"'}
    bodies: list[dict[str, Any]] = [
        {},
        {"data": []},
        {"data": "x"},
        {"data": {}, "version": 3},
        {"data": {"k": "\x00"}},
        {"data": {"k": "\ud800"}},
    ]
    for body in bodies:
        response = await client.put(url, content=_raw_json(body), headers=headers)
        assert_problem(response, 422, "validation_error")
    long_etag = await client.put(url, json={"data": {}}, headers={**auth, "If-Match": "9" * 100})
    _assert_4xx_problem(long_etag, "long If-Match")
    stored = await AgentContext.get(session_id=sid)
    assert (stored.version, stored.data) == (0, {})


async def test_bad_queries_and_ids_are_4xx(client: httpx.AsyncClient, services: Services) -> None:
    auth = await make_user(services)
    sid = (await make_session(client, auth))["id"]
    for path, params in BAD_QUERIES:
        url = f"{API}{path}" if path.startswith("/") else f"{API}/sessions/{path.format(sid=sid)}"
        response = await client.get(url, params=params, headers=auth)
        assert_problem(response, 422, "validation_error")
    for bad in BAD_IDS:
        for method, suffix in [
            ("GET", ""),
            ("PATCH", ""),
            ("DELETE", ""),
            ("GET", "/messages"),
            ("POST", "/messages"),
            ("GET", "/context"),
            ("PUT", "/context"),
        ]:
            response = await client.request(
                method, f"{API}/sessions/{bad}{suffix}", headers=auth, json={}
            )
            _assert_4xx_problem(response, (method, bad, suffix))


async def test_oversized_body_is_413(client: httpx.AsyncClient, services: Services) -> None:
    auth = await make_user(services)
    sid = (await make_session(client, auth))["id"]
    before = await _counts()
    huge = json.dumps({"role": "user", "content": "x" * (1024 * 1024 + 1)}).encode()
    response = await client.post(
        f"{API}/sessions/{sid}/messages", content=huge, headers={**auth, **JSON}
    )
    assert_problem(response, 413, "payload_too_large")

    async def chunks() -> Any:  # no Content-Length: the limit applies to the stream too
        for _ in range(20):
            yield b"x" * 65536

    streamed = await client.post(f"{API}/sessions", content=chunks(), headers={**auth, **JSON})
    assert_problem(streamed, 413, "payload_too_large")
    # Declared or found while reading, the answer is the same.
    assert (
        streamed.json()["detail"]
        == response.json()["detail"]
        == ("The request body exceeds 1048576 bytes.")
    )
    assert await _counts() == before


async def test_a_body_that_is_not_json_is_415(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    sid = (await make_session(client, auth))["id"]
    before = await _counts()
    targets = [
        ("POST", "/sessions", b'{"title": "x"}'),
        ("PATCH", f"/sessions/{sid}", b'{"title": "x"}'),
        ("POST", f"/sessions/{sid}/messages", b'{"role": "user", "content": "x"}'),
        ("PUT", f"/sessions/{sid}/context", b'{"data": {}}'),
        ("POST", "/agent/message", b'{"message": "x"}'),
        ("POST", "/agent/message/stream", b'{"message": "x"}'),
    ]
    # A JSON text sent as text/plain, a form, or with no Content-Type at all got a 422.
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        for method, path, raw in targets:
            headers = {**auth, "If-Match": "*"}
            if content_type is not None:
                headers["Content-Type"] = content_type
            response = await client.request(method, f"{API}{path}", content=raw, headers=headers)
            assert_problem(response, 415, "unsupported_media_type")
    assert await _counts() == before
    for content_type in ("application/json; charset=utf-8", "application/merge-patch+json"):
        ok = await client.patch(
            f"{API}/sessions/{sid}",
            content=b'{"title": "y"}',
            headers={**auth, "Content-Type": content_type},
        )
        assert ok.status_code == 200, (content_type, ok.text)
    # A route without a body does not care, and an absent body is not a media type.
    cancel = await client.post(f"{API}/runs/{sid}/cancel", headers=auth)
    assert_problem(cancel, 404, "run_not_found")
    no_body = await client.post(f"{API}/sessions", headers=auth)
    assert_problem(no_body, 422, "validation_error")


def test_every_route_that_takes_a_body_limits_it() -> None:
    # The streamed-body limit and the 415 live in JsonBodyRoute: a body route
    # declared on another route class would take any size and media type.
    routes = [route for router in api_routers for route in router.routes]
    with_body = [route for route in routes if isinstance(route, APIRoute) and route.body_field]
    assert with_body
    assert [route.path for route in with_body if not isinstance(route, JsonBodyRoute)] == []
