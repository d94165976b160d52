"""Deciding approvals: exactly one decision wins; edited arguments are validated."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from services import Services
from tests.factories import make_session, make_user
from tests.problems import assert_problem
from tests.runs_support import API, get_json, run_events, types


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"delta_coalesce_ms": 0}


async def waiting_run(
    client: httpx.AsyncClient, headers: dict[str, str], session_id: str, value: Any
) -> dict[str, Any]:
    message = "/tool remember " + json.dumps({"key": "k", "value": value})
    response = await client.post(
        f"{API}/agent/message", headers=headers, json={"session_id": session_id, "message": message}
    )
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_concurrent_decisions_exactly_one_wins(
    client: httpx.AsyncClient, services: Services
) -> None:
    headers = await make_user(services)
    session = await make_session(client, headers)

    for round_ in range(3):
        body = await waiting_run(client, headers, session["id"], round_)
        url = f"{API}/approvals/{body['approval']['id']}/decision"
        decisions = [{"decision": "approve"}, {"decision": "reject"}] * 2
        responses = await asyncio.gather(
            *(client.post(url, headers=headers, json=decision) for decision in decisions)
        )

        winners = [r for r in responses if r.status_code == 200]
        assert len(winners) == 1, [r.text for r in responses]
        for loser in responses:
            if loser is not winners[0]:
                problem = assert_problem(loser, 409, "approval_already_decided")
                assert problem["approval_status"] == winners[0].json()["status"]
        status = winners[0].json()["status"]
        events = await run_events(client, headers, body["run"]["id"])
        assert types(events).count("approval_decided") == 1
        assert types(events).count("tool_result") == 1
        assert events[4].data["status"] == status
        assert events[-1].data["status"] == "completed"
        context = await get_json(client, f"/sessions/{session['id']}/context", headers)
        if status == "approved":
            assert context["data"]["k"] == round_
        else:
            assert context["data"].get("k") != round_


async def test_edited_arguments_must_match_the_schema(
    client: httpx.AsyncClient, services: Services
) -> None:
    headers = await make_user(services)
    session = await make_session(client, headers)
    body = await waiting_run(client, headers, session["id"], 1)
    approval_id = body["approval"]["id"]
    url = f"{API}/approvals/{approval_id}/decision"

    for arguments in ({"key": "k"}, {"key": "", "value": 1}, {"key": "k", "value": 1, "x": 2}):
        response = await client.post(
            url, headers=headers, json={"decision": "approve", "arguments": arguments}
        )
        problem = assert_problem(response, 422, "invalid_tool_arguments")
        assert problem["errors"], problem
        for error in problem["errors"]:  # the same shape as every 422's field errors
            assert error["loc"] == ["body", "arguments"] and error["msg"] and error["type"]
    for bad_body in ({"decision": "maybe"}, {"decision": "approve", "arguments": [1]}, {}):
        assert_problem(await client.post(url, headers=headers, json=bad_body), 422)
    unknown = f"{API}/approvals/00000000-0000-4000-8000-000000000000/decision"
    assert_problem(await client.post(unknown, headers=headers, json={"decision": "approve"}), 404)
    other = await make_user(services)
    assert_problem(await client.post(url, headers=other, json={"decision": "approve"}), 404)

    approval = await get_json(client, f"/approvals/{approval_id}", headers)
    assert approval["status"] == "pending"  # nothing above decided it
    pending = await get_json(client, "/approvals?status=pending", headers)
    assert [item["id"] for item in pending["items"]] == [approval_id]
    ok = await client.post(
        url, headers=headers, json={"decision": "approve", "arguments": {"key": "k", "value": 2}}
    )
    assert ok.status_code == 200, ok.text
    # Decided: a second decision is a conflict, even with arguments the schema refuses.
    again = await client.post(
        url, headers=headers, json={"decision": "approve", "arguments": {"key": "k"}}
    )
    assert_problem(again, 409, "approval_already_decided")
    events = await run_events(client, headers, body["run"]["id"])
    assert events[-1].data["status"] == "completed"
    context = await get_json(client, f"/sessions/{session['id']}/context", headers)
    assert context["data"] == {"k": 2}
