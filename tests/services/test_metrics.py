"""GET /metrics: the series exist, move with traffic, and label routes by template."""

from __future__ import annotations

from datetime import timedelta

import httpx
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from starlette.types import Receive, Scope, Send

from core.clock import utcnow
from core.settings import Settings
from models import Run, RunStatus
from project.app import create_app
from project.middleware import RequestContextMiddleware
from services import Services
from services.metrics import Metrics
from tests.factories import make_session, make_user

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(client: httpx.AsyncClient) -> Samples:
    """Fetch /metrics and index every sample by (name, labels)."""
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def names(samples: Samples) -> set[str]:
    return {name for name, _ in samples}


async def test_series_exist_before_traffic(client: httpx.AsyncClient, dialect: str) -> None:
    samples = await scrape(client)
    for name in [
        "terrapin_db_pool_size",
        "terrapin_db_pool_max_size",
        "terrapin_db_pool_in_use",
        "terrapin_db_pool_waiting",
        "terrapin_sse_streams_open",
        "terrapin_approvals_pending",
        "terrapin_approval_oldest_pending_age_seconds",
    ]:
        assert name in names(samples), name
    for status in ["queued", "running", "waiting_approval"]:
        assert ("terrapin_runs", frozenset({("status", status)})) in samples
    assert value(samples, "terrapin_db_pool_size") >= 1
    if dialect == "sqlite":
        assert value(samples, "terrapin_db_pool_max_size") == 1
    else:
        assert value(samples, "terrapin_db_pool_max_size") == 10


async def test_requests_are_counted_by_route_template(
    client: httpx.AsyncClient, services: Services
) -> None:
    headers = await make_user(services)
    session = await make_session(client, headers, title="m")
    for _ in range(3):
        response = await client.get(f"/api/v1/sessions/{session['id']}", headers=headers)
        assert response.status_code == 200
    await client.get("/api/v1/sessions/00000000-0000-0000-0000-000000000000", headers=headers)
    await client.get("/no/such/path")

    samples = await scrape(client)
    template = "/api/v1/sessions/{session_id}"
    ok = {"method": "GET", "route": template, "status": "200"}
    assert value(samples, "terrapin_http_requests_total", **ok) == 3
    assert value(samples, "terrapin_http_request_duration_seconds_count", **ok) == 3
    assert value(samples, "terrapin_http_request_duration_seconds_sum", **ok) > 0
    missing = {"method": "GET", "route": template, "status": "404"}
    assert value(samples, "terrapin_http_requests_total", **missing) == 1
    unmatched = {"method": "GET", "route": "<unmatched>", "status": "404"}
    assert value(samples, "terrapin_http_requests_total", **unmatched) == 1
    routes = {dict(labels).get("route") for _, labels in samples}
    assert not any(route and session["id"] in route for route in routes)


async def test_group_commit_series_move_with_appends(
    client: httpx.AsyncClient, services: Services
) -> None:
    headers = await make_user(services)
    session = await make_session(client, headers)
    path = f"/api/v1/sessions/{session['id']}/messages"
    for n in range(4):
        response = await client.post(
            path, json={"role": "user", "content": f"m{n}"}, headers=headers
        )
        assert response.status_code == 201

    samples = await scrape(client)
    writer = {"writer": "message-writer"}
    assert value(samples, "terrapin_group_commit_batch_size_count", **writer) == 4
    assert value(samples, "terrapin_group_commit_batch_size_sum", **writer) == 4
    assert value(samples, "terrapin_group_commit_wait_seconds_count", **writer) == 4
    assert value(samples, "terrapin_group_commit_flush_seconds_sum", **writer) > 0
    post = {"method": "POST", "route": "/api/v1/sessions/{session_id}/messages", "status": "201"}
    assert value(samples, "terrapin_http_requests_total", **post) == 4


async def test_metrics_route_is_not_in_the_schema(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    assert "/metrics" not in schema["paths"]


def test_each_app_has_its_own_registry(settings: Settings) -> None:
    first: FastAPI = create_app(settings)
    second: FastAPI = create_app(settings)
    assert first.state.metrics.registry is not second.state.metrics.registry


async def test_runs_and_approvals_are_read_at_scrape_time(
    client: httpx.AsyncClient, services: Services
) -> None:
    headers = await make_user(services)
    body = {"message": '/tool remember {"key": "colour", "value": "green"}'}
    response = await client.post("/api/v1/agent/message", json=body, headers=headers)
    assert response.status_code == 202, response.text

    samples = await scrape(client)
    assert value(samples, "terrapin_runs", status="waiting_approval") == 1
    assert value(samples, "terrapin_approvals_pending") == 1
    assert 0 <= value(samples, "terrapin_approval_oldest_pending_age_seconds") < 60
    lag = value(samples, "terrapin_event_log_write_lag_seconds_count")
    assert lag >= 1
    assert value(samples, "terrapin_group_commit_batch_size_count", writer="event-writer") >= 1


async def test_open_sse_streams_are_counted_while_they_stream() -> None:
    metrics = Metrics()
    seen: list[float] = []

    async def sse_app(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"text/event-stream; charset=utf-8")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        seen.append(metrics.sse_streams._value.get())
        await send({"type": "http.response.body", "body": b"data: 1\n\n"})

    app = RequestContextMiddleware(sse_app, max_body_bytes=1024, metrics=metrics)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        response = await http.get("/stream")
    assert response.status_code == 200
    assert seen == [1.0]
    assert metrics.sse_streams._value.get() == 0


async def test_sweeper_actions_are_exported(client: httpx.AsyncClient, services: Services) -> None:
    headers = await make_user(services)
    session_id = (await make_session(client, headers))["id"]
    lapsed = utcnow() - timedelta(minutes=1)
    for _ in range(2):  # runs whose driver died: their leases lapsed
        await Run.create(session_id=session_id, status=RunStatus.RUNNING, lease_expires_at=lapsed)
    await services.sweeper.sweep()
    samples = await scrape(client)
    assert value(samples, "terrapin_sweeper_actions_total", action="interrupted") == 2
    assert ("terrapin_sweeper_actions_total", frozenset({("action", "expired")})) in samples


async def test_finished_runs_are_counted_by_final_status(
    client: httpx.AsyncClient, services: Services
) -> None:
    headers = await make_user(services)
    done = await client.post("/api/v1/agent/message", json={"message": "hi"}, headers=headers)
    assert done.status_code == 200, done.text
    failed = await client.post(
        "/api/v1/agent/message", json={"message": "/tool calculator {oops"}, headers=headers
    )
    assert failed.status_code == 200, failed.text

    samples = await scrape(client)
    assert value(samples, "terrapin_runs_finished_total", status="completed") == 1
    assert value(samples, "terrapin_runs_finished_total", status="failed") == 1
