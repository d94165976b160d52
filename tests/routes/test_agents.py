"""Agents users configure: CRUD, immutable versions, pinning, retiring, isolation."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from services import Services
from tests.factories import make_session, make_user
from tests.problems import assert_problem
from tests.runs_support import API, get_json, stream_message, types


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"delta_coalesce_ms": 0}


async def create_agent(
    client: httpx.AsyncClient, headers: dict[str, str], name: str, **body: Any
) -> dict[str, Any]:
    response = await client.post(
        f"{API}/agents", headers=headers, json={"name": name, "provider": "scripted", **body}
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def put_agent(
    client: httpx.AsyncClient, headers: dict[str, str], name: str, **body: Any
) -> httpx.Response:
    return await client.put(
        f"{API}/agents/{name}", headers=headers, json={"provider": "scripted", **body}
    )


async def run_in(
    client: httpx.AsyncClient, headers: dict[str, str], session_id: str, message: str
) -> dict[str, Any]:
    """Stream one message to the session; return its run as GET /runs/{id} shows it."""
    events = await stream_message(client, headers, session_id=session_id, message=message)
    run: dict[str, Any] = await get_json(client, f"/runs/{events[0].data['run_id']}", headers)
    return run


async def test_create_read_list_and_version_an_agent(
    client: httpx.AsyncClient, services: Services
) -> None:
    headers = await make_user(services)
    created = await create_agent(
        client,
        headers,
        "helper",
        description="Adds numbers.",
        instructions="Be brief.",
        tools=["calculator"],
        tools_requiring_approval=["calculator"],
        history_window=10,
    )
    assert created == {
        "name": "helper",
        "version": 1,
        "builtin": False,
        "description": "Adds numbers.",
        "instructions": "Be brief.",
        "provider": "scripted",
        "model": None,
        "tools": ["calculator"],
        "tools_requiring_approval": ["calculator"],
        "history_window": 10,
        "client_tools": [],
        "created_at": created["created_at"],
        "retired_at": None,
    }
    assert await get_json(client, "/agents/helper", headers) == created

    second = await put_agent(client, headers, "helper", tools=["clock"], instructions="v2")
    assert second.status_code == 200, second.text
    assert (second.json()["version"], second.json()["tools"]) == (2, ["clock"])
    third = await put_agent(client, headers, "helper", tools=["recall"])
    assert third.json()["version"] == 3
    assert (await get_json(client, "/agents/helper", headers))["version"] == 3

    # Versions are immutable: each keeps what it was written with.
    page = await get_json(client, "/agents/helper/versions?limit=2", headers)
    assert [v["version"] for v in page["items"]] == [3, 2]
    rest = await get_json(client, f"/agents/helper/versions?cursor={page['next_cursor']}", headers)
    assert [v["version"] for v in rest["items"]] == [1] and rest["next_cursor"] is None
    assert rest["items"][0] == created
    assert page["items"][1]["instructions"] == "v2"


async def test_the_builtin_agent_follows_the_settings_and_cannot_change(
    client: httpx.AsyncClient, services: Services
) -> None:
    headers = await make_user(services)
    builtin = await get_json(client, "/agents/default", headers)
    assert builtin["builtin"] is True and builtin["version"] == 0
    assert builtin["provider"] == "scripted"
    assert builtin["tools"] == ["calculator", "clock", "remember", "recall"]
    assert builtin["tools_requiring_approval"] == ["remember"]
    assert builtin["history_window"] == services.settings.agent_history_window
    versions = await get_json(client, "/agents/default/versions", headers)
    assert versions == {"items": [builtin], "next_cursor": None}
    assert_problem(await put_agent(client, headers, "default"), 409, "builtin_agent")
    assert_problem(await client.delete(f"{API}/agents/default", headers=headers), 409)
    taken = await client.post(
        f"{API}/agents", headers=headers, json={"name": "default", "provider": "scripted"}
    )
    assert_problem(taken, 409, "agent_exists")

    # A client that never names an agent sees no change: the run records `default`, version 0.
    session = await make_session(client, headers)
    assert session["agent"] == "default"
    run = await run_in(client, headers, session["id"], "hello")
    assert (run["agent"], run["agent_version"], run["status"]) == ("default", 0, "completed")


async def test_agents_are_listed_by_name_with_the_builtin_one(
    client: httpx.AsyncClient, services: Services
) -> None:
    headers = await make_user(services)
    for name in ("zed", "b1", "a1"):
        await create_agent(client, headers, name)
    first = await get_json(client, "/agents?limit=2", headers)
    assert [a["name"] for a in first["items"]] == ["a1", "b1"]
    second = await get_json(client, f"/agents?limit=2&cursor={first['next_cursor']}", headers)
    assert [a["name"] for a in second["items"]] == ["default", "zed"]
    assert second["next_cursor"] is None
    everything = await get_json(client, "/agents", headers)
    assert [a["name"] for a in everything["items"]] == ["a1", "b1", "default", "zed"]
    assert_problem(await client.get(f"{API}/agents?cursor=nope", headers=headers), 400)


async def test_sessions_pin_a_version_or_follow_the_newest(
    client: httpx.AsyncClient, services: Services
) -> None:
    headers = await make_user(services)
    await create_agent(client, headers, "helper", tools=["calculator"])
    await put_agent(client, headers, "helper", tools=["clock"])
    following = await make_session(client, headers, agent="helper")
    pinned = await make_session(client, headers, agent="helper@1")
    assert pinned["agent"] == "helper@1"

    # Version 2 has only `clock`, version 1 only `calculator`: each run is offered its own.
    run = await run_in(client, headers, following["id"], "/tool clock")
    assert (run["agent"], run["agent_version"], run["status"]) == ("helper", 2, "completed")
    run = await run_in(client, headers, pinned["id"], '/tool calculator {"expression": "6*7"}')
    assert (run["agent"], run["agent_version"], run["status"]) == ("helper", 1, "completed")
    run = await run_in(client, headers, pinned["id"], "/tool clock")
    assert run["status"] == "failed"
    assert run["error"]["code"] == "unknown_tool"
    assert "the tools are: calculator." in run["error"]["message"]

    # A new version reaches the following session's next run, not the pinned one's.
    await put_agent(client, headers, "helper", tools=["recall"])
    run = await run_in(client, headers, following["id"], '/tool recall {"key": "k"}')
    assert (run["agent_version"], run["status"]) == (3, "completed")
    run = await run_in(client, headers, pinned["id"], "hello")
    assert run["agent_version"] == 1


async def test_each_agent_applies_its_own_approval_policy(
    client: httpx.AsyncClient, services: Services
) -> None:
    headers = await make_user(services)
    await create_agent(client, headers, "trusting", tools=["remember"])
    await create_agent(
        client,
        headers,
        "careful",
        tools=["calculator"],
        tools_requiring_approval=["calculator"],
    )
    remember = "/tool remember " + json.dumps({"key": "k", "value": 1})
    trusting = await make_session(client, headers, agent="trusting")
    events = await stream_message(client, headers, session_id=trusting["id"], message=remember)
    assert "approval_required" not in types(events)  # the default agent would ask
    assert events[-1].data["status"] == "completed"

    careful = await make_session(client, headers, agent="careful")
    response = await client.post(
        f"{API}/agent/message",
        headers=headers,
        json={"session_id": careful["id"], "message": '/tool calculator {"expression": "1+1"}'},
    )
    assert response.status_code == 202, response.text
    assert response.json()["approval"]["tool"] == "calculator"
    assert response.json()["run"]["status"] == "waiting_approval"


async def test_a_retired_agent_keeps_its_sessions_and_refuses_new_ones(
    client: httpx.AsyncClient, services: Services
) -> None:
    headers = await make_user(services)
    await create_agent(client, headers, "old", tools=["clock"])
    await put_agent(client, headers, "old", tools=["clock", "recall"])
    session = await make_session(client, headers, agent="old")
    retired = await client.delete(f"{API}/agents/old", headers=headers)
    assert retired.status_code == 204
    assert (await client.delete(f"{API}/agents/old", headers=headers)).status_code == 204
    agent = await get_json(client, "/agents/old", headers)
    assert agent["retired_at"] is not None and agent["version"] == 2

    assert_problem(
        await client.post(f"{API}/sessions", headers=headers, json={"agent": "old"}),
        409,
        "agent_retired",
    )
    started = await client.post(
        f"{API}/agent/message", headers=headers, json={"message": "hi", "agent": "old@1"}
    )
    assert_problem(started, 409, "agent_retired")
    assert_problem(await put_agent(client, headers, "old"), 409, "agent_retired")

    run = await run_in(client, headers, session["id"], '/tool recall {"key": "k"}')
    assert (run["agent"], run["agent_version"], run["status"]) == ("old", 2, "completed")


async def test_another_users_agent_does_not_exist_for_you(
    client: httpx.AsyncClient, services: Services
) -> None:
    alice, bob = await make_user(services), await make_user(services)
    admin = await make_user(services, admin=True)
    await create_agent(client, alice, "shared-name", tools=["clock"])
    for headers in (bob, admin):
        assert_problem(await client.get(f"{API}/agents/shared-name", headers=headers), 404)
        assert_problem(await client.get(f"{API}/agents/shared-name/versions", headers=headers), 404)
        assert_problem(await put_agent(client, headers, "shared-name"), 404, "agent_not_found")
        assert_problem(await client.delete(f"{API}/agents/shared-name", headers=headers), 404)
        names = [a["name"] for a in (await get_json(client, "/agents", headers))["items"]]
        assert names == ["default"]
        refused = await client.post(
            f"{API}/sessions", headers=headers, json={"agent": "shared-name"}
        )
        assert_problem(refused, 422, "unknown_agent")

    # Names are unique per owner: Bob may have his own `shared-name`, and his sessions use it.
    await create_agent(client, bob, "shared-name", tools=["recall"])
    session = await make_session(client, bob, agent="shared-name")
    run = await run_in(client, bob, session["id"], "/tool clock")
    assert run["error"]["code"] == "unknown_tool"  # Alice's version has clock, Bob's not
    assert (await get_json(client, "/agents/shared-name", alice))["tools"] == ["clock"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"tools": ["teleport"]}, 422, "unknown_tool"),
        ({"tools": ["clock"], "tools_requiring_approval": ["calculator"]}, 422, None),
        ({"tools": ["clock", "clock"]}, 422, None),
        ({"client_tools": [{"name": "x", "parameters": {"type": 5}}]}, 422, None),
        ({"client_tools": [{"name": "clock"}], "tools": ["clock"]}, 422, None),
        ({"client_tools": [{"name": "x"}, {"name": "x"}]}, 422, None),
        ({"client_tools": [{"name": "has space"}]}, 422, None),
        ({"provider": "nobody"}, 422, None),
        ({"history_window": 0}, 422, None),
        ({"model": ""}, 422, None),
        ({"unknown_field": 1}, 422, None),
        ({"name": "a@b"}, 422, None),
        ({"name": ""}, 422, None),
    ],
)
async def test_invalid_agents_are_refused(
    client: httpx.AsyncClient,
    services: Services,
    body: dict[str, Any],
    status: int,
    code: str | None,
) -> None:
    headers = await make_user(services)
    response = await client.post(
        f"{API}/agents", headers=headers, json={"name": "bad", "provider": "scripted", **body}
    )
    problem = assert_problem(response, status, code or "validation_error")
    if code is None:
        assert problem["errors"], problem
    assert_problem(await client.get(f"{API}/agents/bad", headers=headers), 404)


async def test_sessions_name_only_agents_that_exist(
    client: httpx.AsyncClient, services: Services
) -> None:
    headers = await make_user(services)
    await create_agent(client, headers, "helper")
    for ref in ("nosuch", "helper@2", "default@1"):
        response = await client.post(f"{API}/sessions", headers=headers, json={"agent": ref})
        assert_problem(response, 422, "unknown_agent")
        started = await client.post(
            f"{API}/agent/message", headers=headers, json={"message": "hi", "agent": ref}
        )
        assert_problem(started, 422, "unknown_agent")
    for ref in ("helper@", "@1", "helper@x", "a" * 65):
        response = await client.post(f"{API}/sessions", headers=headers, json={"agent": ref})
        assert_problem(response, 422, "validation_error")
    for ref in ("helper", "helper@1", "default", "default@0"):
        assert (await make_session(client, headers, agent=ref))["agent"] == ref
    sessions = await get_json(client, "/sessions", headers)
    assert len(sessions["items"]) == 4  # nothing was stored for the refused ones


async def test_answering_the_history_uses_the_sessions_agent(
    client: httpx.AsyncClient, services: Services
) -> None:
    headers = await make_user(services)
    await create_agent(client, headers, "helper", tools=["clock"])
    await put_agent(client, headers, "helper", tools=["recall"])
    session = await make_session(client, headers, agent="helper@1")
    appended = await client.post(
        f"{API}/sessions/{session['id']}/messages",
        headers=headers,
        json={"role": "user", "content": "/tool clock"},
    )
    assert appended.status_code == 201, appended.text
    # No message: the run answers the history as it stands, with the pinned version.
    events = await stream_message(client, headers, session_id=session["id"])
    run = await get_json(client, f"/runs/{events[0].data['run_id']}", headers)
    assert (run["agent"], run["agent_version"], run["status"]) == ("helper", 1, "completed")
