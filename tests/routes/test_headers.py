"""Headers every answer carries, the request id, and who may read /metrics."""

from __future__ import annotations

from typing import Any

import httpx
from asgi_lifespan import LifespanManager

from project.app import create_app
from services import Services
from tests.conftest import make_settings
from tests.factories import make_session, make_user, raw_headers
from tests.problems import assert_problem

API = "/api/v1"


async def test_every_answer_is_nosniff_and_user_data_is_no_store(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    sid = (await make_session(client, auth))["id"]
    private = [
        await client.get(f"{API}/sessions", headers=auth),
        await client.get(f"{API}/sessions/{sid}/context", headers=auth),
        await client.get(f"{API}/sessions/{sid}/messages", headers=auth),
        await client.get(f"{API}/sessions", headers={"Authorization": "Bearer nope"}),
        await client.get(f"{API}/sessions/not-a-uuid", headers=auth),
        await client.post(
            f"{API}/agent/message/stream", json={"message": "hi", "session_id": sid}, headers=auth
        ),
    ]
    public = [
        await client.get("/healthz"),
        await client.get("/readyz"),
        await client.get("/metrics"),
        await client.get("/nope"),
    ]
    for response in private + public:
        assert response.headers["x-content-type-options"] == "nosniff", response.url
    for response in private:
        # The stream's own "no-cache" is replaced: a cache may not keep it at all.
        assert response.headers.get_list("cache-control") == ["no-store"], response.url
    for response in public:
        assert "no-store" not in response.headers.get("cache-control", ""), response.url


async def test_a_sane_request_id_is_echoed_and_an_odd_one_replaced(
    client: httpx.AsyncClient,
) -> None:
    for sane in ("req-123", "9b2c7a1e-0a7e-4a9e-9d53-6a8f0c3b1d11", "a.b:c/d+e=", "x" * 128):
        response = await client.get("/healthz", headers={"X-Request-ID": sane})
        assert response.headers["x-request-id"] == sane
    for odd in (b"x" * 129, b"two words", b'quote"d', b"tab\there", b"caf\xe9", b"<script>"):
        response = await client.get("/healthz", headers=raw_headers({}, {"X-Request-ID": odd}))
        replaced = response.headers["x-request-id"]
        assert replaced.encode() != odd and len(replaced) == 32 and replaced.isalnum()


async def _metrics(database_url: str, *requests: dict[str, Any]) -> list[httpx.Response]:
    app = create_app(make_settings(database_url, metrics_token="s3cret-metrics-token"))
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return [await client.get("/metrics", **request) for request in requests]


async def test_metrics_are_open_without_a_token(client: httpx.AsyncClient) -> None:
    assert (await client.get("/metrics")).status_code == 200


async def test_metrics_can_require_a_token(database_url: str) -> None:
    missing, wrong, scheme, right = await _metrics(
        database_url,
        {},
        {"headers": {"Authorization": "Bearer s3cret-metrics-tokeX"}},
        {"headers": {"Authorization": "Basic s3cret-metrics-token"}},
        {"headers": {"Authorization": "Bearer s3cret-metrics-token"}},
    )
    for refused in (missing, wrong, scheme):
        assert_problem(refused, 401, "unauthorized")
        assert refused.headers["www-authenticate"] == "Bearer"
    assert right.status_code == 200
    assert "terrapin_http_requests_total" in right.text
