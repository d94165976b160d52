"""The OpenAPI document: honest error lists, one problem schema, typed events, offline docs."""

from __future__ import annotations

import json
from importlib.metadata import version
from typing import Any

import httpx
import jsonschema

from services import Services
from tests.factories import make_session, make_user
from tests.runs_support import API, Event, run_events, stream_message, types

PROBLEM = "application/problem+json"


async def _document(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def _operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        f"{method.upper()} {path}": operation
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    }


async def test_version_is_the_package_version(client: httpx.AsyncClient) -> None:
    document = await _document(client)
    assert document["info"]["version"] == version("terrapin")  # it said 1.0.0 for 0.1.0


async def test_the_problem_schema_is_one_component_referenced_everywhere(
    client: httpx.AsyncClient,
) -> None:
    document = await _document(client)
    assert "Problem" in document["components"]["schemas"]
    problems = [
        content[PROBLEM]["schema"]
        for operation in _operations(document).values()
        for response in operation["responses"].values()
        if PROBLEM in (content := response.get("content", {}))
    ]
    assert len(problems) > 50
    assert all(schema == {"$ref": "#/components/schemas/Problem"} for schema in problems)
    # 97 KB for 33 operations; the schema inlined in each of their 237 error answers
    # would add about 100 KB.
    assert len(json.dumps(document)) < 120_000


async def test_each_operation_lists_only_the_errors_it_can_answer(
    client: httpx.AsyncClient,
) -> None:
    operations = _operations(await _document(client))
    errors = {
        name: {int(status) for status in op["responses"] if int(status) >= 400}
        for name, op in operations.items()
    }
    common = {401, 422, 429, 500, 503}
    # GET /sessions listed 404, 409 and 413 like every other operation.
    assert errors["GET /api/v1/sessions"] == common | {400}
    assert errors["GET /api/v1/sessions/{session_id}"] == common | {404}
    assert errors["PUT /api/v1/sessions/{session_id}/context"] == common | {
        400,
        404,
        412,
        413,
        415,
        428,
    }
    assert errors["GET /api/v1/runs/{run_id}/events"] == common | {400, 404}
    assert errors["GET /healthz"] == set()
    assert errors["GET /readyz"] == {503}
    for name, operation in operations.items():
        takes_body = "requestBody" in operation
        assert ({413, 415} <= errors[name]) == takes_body, name
        if name.startswith(("GET", "DELETE")) and "{" not in name:
            assert 404 not in errors[name], name
    assert "304" in operations["GET /api/v1/sessions/{session_id}/context"]["responses"]
    assert "204" in operations["GET /api/v1/runs/{run_id}/events"]["responses"]


def _event_validator(document: dict[str, Any], operation: str) -> dict[str, Any]:
    """The item schema of a streaming operation's 200, by event type."""
    stream = _operations(document)[operation]["responses"]["200"]["content"]
    variants = stream["text/event-stream"]["itemSchema"]["oneOf"]
    return {variant["properties"]["event"]["const"]: variant for variant in variants}


def _validate(document: dict[str, Any], variants: dict[str, Any], event: Event) -> None:
    variant = variants[event.type]
    frame = {"event": event.type, "id": str(event.id), "data": json.dumps(event.data)}
    jsonschema.validate({**frame}, {**variant, "components": document["components"]})
    content_schema = variant["properties"]["data"]["contentSchema"]
    jsonschema.validate(event.data, {**content_schema, "components": document["components"]})


async def _client_tool_run(client: httpx.AsyncClient, headers: dict[str, str]) -> list[Event]:
    """The events of a run of an agent whose tool the client runs, answered."""
    agent = {"name": "browser", "provider": "scripted", "client_tools": [{"name": "where"}]}
    assert (await client.post(f"{API}/agents", headers=headers, json=agent)).status_code == 201
    session = await make_session(client, headers, agent="browser")
    body = {"session_id": session["id"], "message": "/tool where"}
    waiting = await client.post(f"{API}/agent/message", headers=headers, json=body)
    assert waiting.status_code == 202, waiting.text
    run_id, call = waiting.json()["run"]["id"], waiting.json()["client_tool_call"]
    result = {"tool_call_id": call["call_id"], "output": {"city": "Oslo"}}
    answered = await client.post(f"{API}/runs/{run_id}/tool-results", headers=headers, json=result)
    assert answered.status_code == 200, answered.text
    return await run_events(client, headers, run_id)


async def test_every_event_of_real_runs_matches_the_stream_schema(
    client: httpx.AsyncClient, services: Services
) -> None:
    document = await _document(client)
    headers = await make_user(services)
    session = await make_session(client, headers)
    sid = session["id"]
    events = await stream_message(client, headers, session_id=sid, message="hello there")
    events += await stream_message(
        client, headers, session_id=sid, message='/tool calculator {"expression": "6*7"}'
    )
    events += await stream_message(
        client, headers, session_id=sid, message="/tool calculator {not json"
    )  # fails
    waiting = await client.post(
        f"{API}/agent/message",
        headers=headers,
        json={"session_id": sid, "message": '/tool remember {"key": "k", "value": "v"}'},
    )
    assert waiting.status_code == 202, waiting.text
    approval = waiting.json()["approval"]["id"]
    decided = await client.post(
        f"{API}/approvals/{approval}/decision", headers=headers, json={"decision": "approve"}
    )
    assert decided.status_code == 200, decided.text
    events += await run_events(client, headers, waiting.json()["run"]["id"])
    events += await _client_tool_run(client, headers)
    assert set(types(events)) == {
        "run",
        "message",
        "delta",
        "tool_call",
        "tool_result",
        "approval_required",
        "approval_decided",
        "client_tool_call",
        "done",
        "error",
    }
    for operation in (
        "POST /api/v1/agent/message/stream",
        "GET /api/v1/runs/{run_id}/events",
    ):
        variants = _event_validator(document, operation)
        for event in events:
            _validate(document, variants, event)


async def test_docs_are_served_without_a_cdn(client: httpx.AsyncClient) -> None:
    for page in ("/docs", "/redoc"):
        html = (await client.get(page)).text
        assets = [part.split('"')[0] for part in html.split('src="')[1:]]
        assets += [part.split('"')[0] for part in html.split('href="')[1:]]
        assert assets, page
        for asset in assets:
            assert asset.startswith("/"), (page, asset)  # it loaded Swagger UI from a CDN
            served = await client.get(asset)
            assert served.status_code == 200, asset
