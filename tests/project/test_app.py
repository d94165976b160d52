"""The app factory, its lifespan, error rendering and request logging."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from core.settings import Settings
from project.app import create_app
from tests.conftest import make_settings
from tests.problems import assert_problem


async def test_lifespan_starts_and_stops_cleanly(settings: Settings) -> None:
    app = create_app(settings)
    async with LifespanManager(app) as manager:
        services = app.state.services
        assert services.message_writer._worker is not None
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/healthz")).status_code == 200
    assert services.message_writer._worker is None
    assert services.executor.accepting is False


async def test_unknown_route_is_a_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/nope")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "not_found"


async def test_unexpected_error_is_a_500_problem_without_internals(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(make_settings(database_url))

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    caplog.set_level(logging.ERROR, logger="terrapin.errors")
    logging.getLogger("terrapin").propagate = True
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.get("/boom")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "internal_error"
    assert "secret" not in response.text
    assert any("secret internals" in (r.exc_text or "") or r.exc_info for r in caplog.records)


async def test_request_id_is_echoed_and_logged_as_json(
    database_url: str, capfd: pytest.CaptureFixture[str]
) -> None:
    app: FastAPI = create_app(make_settings(database_url, log_format="json", log_level="INFO"))
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.get("/healthz", headers={"X-Request-ID": "req-123"})
    assert response.headers["x-request-id"] == "req-123"
    lines = [
        json.loads(line) for line in capfd.readouterr().err.splitlines() if line.startswith("{")
    ]
    access = [line for line in lines if line.get("logger") == "terrapin.access"]
    assert access and access[0]["request_id"] == "req-123"
    assert access[0]["route"] == "/healthz"
    assert access[0]["status"] == 200


async def test_an_unmigrated_database_answers_503_saying_what_to_run(
    empty_database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(make_settings(empty_database_url))
    caplog.set_level(logging.WARNING, logger="terrapin")
    logging.getLogger("terrapin").propagate = True
    auth = {"Authorization": "Bearer tp_" + "x" * 43}  # well formed: it reaches the database
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            responses = [
                await client.get("/api/v1/sessions", headers=auth),
                await client.post("/api/v1/sessions", json={}, headers=auth),
                await client.get("/api/v1/approvals", headers=auth),
            ]
            ready = await client.get("/readyz")
    for response in responses:
        # It was a 500 with "no such table: api_token" in the log.
        body = assert_problem(response, 503, "not_ready")
        assert "python -m project migrate" in body["detail"]
        assert response.headers["retry-after"].isdigit()
    assert_problem(ready, 503, "not_ready")
    assert ready.headers["retry-after"].isdigit()
    lines = [r for r in caplog.records if "not migrated" in r.getMessage()]
    assert len(lines) == 1 and lines[0].exc_info is None  # one line, not a traceback each


async def test_plain_log_lines_escape_what_the_client_sent(
    database_url: str, capfd: pytest.CaptureFixture[str]
) -> None:
    app = create_app(make_settings(database_url, log_format="plain", log_level="INFO"))

    @app.get("/boom/{anything}")
    async def boom(anything: str) -> None:
        raise RuntimeError("boom")

    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.get(
                "/boom/x%0A2026-01-01 00:00:00,000 ERROR terrapin.auth: forged%1B[2J",
                headers={"X-Request-ID": "fine\x0bbut-not-echoed"},
            )
    assert response.status_code == 500
    assert response.headers["x-request-id"] != "fine\x0bbut-not-echoed"
    err = capfd.readouterr().err
    assert not [line for line in err.splitlines() if "forged" in line and "unhandled" not in line]
    (line,) = [line for line in err.splitlines() if "unhandled error" in line]
    assert "x\\n2026-01-01" in line and "\\x1b[2J" in line
