"""Deleting sessions that have forks, and forks of deleted sessions."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from models import AgentContext, ChatSession, ContextSnapshot, Message, Run, RunStatus
from services import Services
from tests.branches_support import API, append, fork, history
from tests.factories import make_session, make_user
from tests.problems import assert_problem
from tests.runs_support import stream_message

REMEMBER = '/tool remember {"key": "city", "value": "Oslo"}'  # needs an approval


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"delta_coalesce_ms": 0}


async def delete(client: httpx.AsyncClient, auth: dict[str, str], sid: str) -> None:
    response = await client.delete(f"{API}/sessions/{sid}", headers=auth)
    assert response.status_code == 204, response.text


async def everything_shown(
    client: httpx.AsyncClient, auth: dict[str, str], sid: str
) -> dict[str, Any]:
    """Every read of a session: itself, its history both ways, its context, its forks."""
    shown: dict[str, Any] = {}
    for name, path in [
        ("session", ""),
        ("forward", "/messages?limit=2"),
        ("backward", "/messages?before_seq=100&limit=3"),
        ("context", "/context"),
        ("branches", "/branches"),
    ]:
        response = await client.get(f"{API}/sessions/{sid}{path}", headers=auth)
        assert response.status_code == 200, response.text
        shown[name] = (response.json(), response.headers.get("etag"))
    shown["history"] = await history(client, auth, sid)
    return shown


async def assert_gone(client: httpx.AsyncClient, auth: dict[str, str], sid: str) -> None:
    """Every endpoint of the session answers 404 and no list shows it."""
    for method, path, body in [
        ("GET", "", None),
        ("PATCH", "", {"title": "x"}),
        ("DELETE", "", None),
        ("GET", "/messages", None),
        ("POST", "/messages", {"role": "user", "content": "x"}),
        ("GET", "/context", None),
        ("POST", "/fork", {"at_seq": 0}),
        ("POST", "/messages/1/edit", {"content": "x"}),
        ("POST", "/regenerate", None),
        ("GET", "/branches", None),
    ]:
        response = await client.request(
            method, f"{API}/sessions/{sid}{path}", json=body, headers=auth
        )
        assert_problem(response, 404, "session_not_found")
    listed = (await client.get(f"{API}/sessions", headers=auth)).json()["items"]
    assert sid not in [item["id"] for item in listed]
    agent = await client.post(
        f"{API}/agent/message", json={"session_id": sid, "message": "x"}, headers=auth
    )
    assert_problem(agent, 404, "session_not_found")


async def rows_of(sid: str) -> int:
    """Rows that belong to the session, itself included."""
    return (
        await ChatSession.filter(id=sid).count()
        + await Message.filter(session_id=sid).count()
        + await AgentContext.filter(session_id=sid).count()
        + await ContextSnapshot.filter(session_id=sid).count()
        + await Run.filter(session_id=sid).count()
    )


async def test_deleting_a_parent_changes_nothing_its_forks_show(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    admin = await make_user(services, admin=True)
    parent = (await make_session(client, auth))["id"]
    first = await stream_message(client, auth, session_id=parent, message="hello")
    await client.put(
        f"{API}/sessions/{parent}/context",
        json={"data": {"a": 1}},
        headers={**auth, "If-Match": "*"},
    )
    await stream_message(client, auth, session_id=parent, message="more")
    child = (await fork(client, auth, parent, 2))["id"]
    grandchild = (await fork(client, auth, child, 1))["id"]
    await append(client, auth, child, "mine")
    shown = {sid: await everything_shown(client, auth, sid) for sid in (child, grandchild)}

    await delete(client, auth, parent)

    await assert_gone(client, auth, parent)
    await assert_gone(client, admin, parent)
    run_id = first[0].data["run_id"]
    assert_problem(await client.get(f"{API}/runs/{run_id}", headers=auth), 404, "run_not_found")
    for sid in (child, grandchild):
        assert await everything_shown(client, auth, sid) == shown[sid]
    # The child still names its (hidden) parent, and its shared messages their run.
    assert shown[child]["session"][0]["parent_id"] == parent
    assert shown[child]["history"][0]["run_id"] == run_id

    await delete(client, auth, child)  # the grandchild still reads the parent through it
    await assert_gone(client, auth, child)
    assert await everything_shown(client, auth, grandchild) == shown[grandchild]
    assert await rows_of(parent) and await rows_of(child)

    await delete(client, auth, grandchild)
    assert await rows_of(parent) == await rows_of(child) == await rows_of(grandchild) == 0


async def test_deleting_a_fork_never_touches_its_parent(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    parent = (await make_session(client, auth))["id"]
    await stream_message(client, auth, session_id=parent, message="hello")
    child = (await fork(client, auth, parent, 1))["id"]
    await stream_message(client, auth, session_id=child, message="child turn")
    shown = await everything_shown(client, auth, parent)

    await delete(client, auth, child)

    assert await rows_of(child) == 0
    after = await everything_shown(client, auth, parent)
    assert after["branches"][0]["items"] == []
    del after["branches"], shown["branches"]
    assert after == shown


async def test_the_last_fork_to_go_takes_its_deleted_ancestors_with_it(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    root = (await make_session(client, auth))["id"]
    for text in ("r1", "r2", "r3"):
        await append(client, auth, root, text)
    left = (await fork(client, auth, root, 2))["id"]
    right = (await fork(client, auth, root, 3))["id"]
    leaf = (await fork(client, auth, left, 1))["id"]

    await delete(client, auth, root)
    await delete(client, auth, left)
    await delete(client, auth, leaf)  # left goes with it; root stays for right
    assert await rows_of(leaf) == await rows_of(left) == 0
    assert await rows_of(root) > 0
    assert [m["content"] for m in await history(client, auth, right)] == ["r1", "r2", "r3"]

    await delete(client, auth, right)
    assert await rows_of(root) == await rows_of(right) == 0


async def test_forks_deleted_at_once_still_purge_their_deleted_parent(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    parent = (await make_session(client, auth))["id"]
    await append(client, auth, parent, "p1")
    forks = [(await fork(client, auth, parent, 1))["id"] for _ in range(4)]
    await delete(client, auth, parent)

    await asyncio.gather(*(delete(client, auth, sid) for sid in forks))

    assert await rows_of(parent) == 0
    assert sum([await rows_of(sid) for sid in forks]) == 0


async def test_deleting_a_session_stops_its_runs_and_hides_them(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    parent = (await make_session(client, auth))["id"]
    waiting = await client.post(
        f"{API}/agent/message", json={"session_id": parent, "message": REMEMBER}, headers=auth
    )
    assert waiting.status_code == 202, waiting.text
    run_id = waiting.json()["run"]["id"]
    approval_id = waiting.json()["approval"]["id"]
    child = (await fork(client, auth, parent, 1))["id"]

    await delete(client, auth, parent)

    assert (await Run.get(id=run_id)).status is RunStatus.CANCELLED
    assert_problem(await client.get(f"{API}/runs/{run_id}", headers=auth), 404, "run_not_found")
    assert_problem(
        await client.get(f"{API}/approvals/{approval_id}", headers=auth), 404, "approval_not_found"
    )
    assert (await client.get(f"{API}/approvals", headers=auth)).json()["items"] == []
    assert [m["content"] for m in await history(client, auth, child)] == [REMEMBER]
