"""What a fork starts with and what stays its own: context, runs, approvals, busy state."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from services import Services
from tests.branches_support import API, append, fork, history
from tests.factories import make_session, make_user
from tests.problems import assert_problem
from tests.runs_support import get_json, run_events, stream_message

REMEMBER = '/tool remember {"key": "city", "value": "Oslo"}'  # needs an approval


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"delta_coalesce_ms": 0}


async def put_context(
    client: httpx.AsyncClient, auth: dict[str, str], sid: str, data: dict[str, Any]
) -> httpx.Response:
    response = await client.put(
        f"{API}/sessions/{sid}/context", json={"data": data}, headers={**auth, "If-Match": "*"}
    )
    assert response.status_code == 200, response.text
    return response


async def context(client: httpx.AsyncClient, auth: dict[str, str], sid: str) -> httpx.Response:
    response = await client.get(f"{API}/sessions/{sid}/context", headers=auth)
    assert response.status_code == 200, response.text
    return response


async def test_a_fork_starts_with_the_context_right_after_its_fork_point(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    sid = (await make_session(client, auth))["id"]
    await append(client, auth, sid, "m1")
    await put_context(client, auth, sid, {"a": 1})
    await append(client, auth, sid, "m2")
    await append(client, auth, sid, "m3")
    await put_context(client, auth, sid, {"a": 2})
    await put_context(client, auth, sid, {"a": 2, "b": 3})  # the last write before m4 counts
    await append(client, auth, sid, "m4")

    expected = {0: {}, 1: {"a": 1}, 2: {"a": 1}, 3: {"a": 2, "b": 3}, 4: {"a": 2, "b": 3}}
    for at_seq, data in expected.items():
        child = await fork(client, auth, sid, at_seq)
        read = await context(client, auth, child["id"])
        assert read.json() == {"version": 0, "data": data}, at_seq
        assert read.headers["etag"] == '"0"'
    assert (await context(client, auth, sid)).json() == {"version": 3, "data": {"a": 2, "b": 3}}


async def test_the_contexts_of_a_fork_and_its_parent_are_independent(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    sid = (await make_session(client, auth))["id"]
    await append(client, auth, sid, "m1")
    await put_context(client, auth, sid, {"a": 1})
    child = (await fork(client, auth, sid, 1))["id"]
    url = f"{API}/sessions/{child}/context"

    stale = await client.put(url, json={"data": {}}, headers={**auth, "If-Match": '"1"'})
    assert_problem(stale, 412, "version_conflict")  # the parent's ETag is not the fork's
    mine = await client.put(url, json={"data": {"c": 1}}, headers={**auth, "If-Match": '"0"'})
    assert mine.status_code == 200 and mine.headers["etag"] == '"1"'
    await put_context(client, auth, sid, {"p": 1})

    assert (await context(client, auth, child)).json() == {"version": 1, "data": {"c": 1}}
    assert (await context(client, auth, sid)).json() == {"version": 2, "data": {"p": 1}}


async def test_forks_of_forks_take_the_context_of_the_history_they_share(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    root = (await make_session(client, auth))["id"]
    await append(client, auth, root, "r1")
    await put_context(client, auth, root, {"r": 1})
    await append(client, auth, root, "r2")
    await append(client, auth, root, "r3")
    await put_context(client, auth, root, {"r": 3})
    child = (await fork(client, auth, root, 2))["id"]  # starts with {"r": 1}
    await put_context(client, auth, child, {"c": 2})  # still right after message 2
    await append(client, auth, child, "c3")
    await put_context(client, auth, child, {"c": 3})

    expected = {0: {}, 1: {"r": 1}, 2: {"c": 2}, 3: {"c": 3}}
    for at_seq, data in expected.items():
        grandchild = (await fork(client, auth, child, at_seq))["id"]
        assert (await context(client, auth, grandchild)).json()["data"] == data, at_seq


async def test_the_remember_tool_versions_the_context_by_the_message_it_follows(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    sid = (await make_session(client, auth))["id"]
    waiting = await client.post(
        f"{API}/agent/message", json={"session_id": sid, "message": REMEMBER}, headers=auth
    )
    assert waiting.status_code == 202, waiting.text
    decided = await client.post(
        f"{API}/approvals/{waiting.json()['approval']['id']}/decision",
        json={"decision": "approve"},
        headers=auth,
    )
    assert decided.status_code == 200, decided.text
    await run_events(client, auth, waiting.json()["run"]["id"])  # until the run ends
    roles = [m["role"] for m in await history(client, auth, sid)]
    assert roles == ["user", "assistant", "tool", "assistant"]
    # The tool ran after the assistant's call (message 2), before its result (message 3).
    before = (await fork(client, auth, sid, 1))["id"]
    after = (await fork(client, auth, sid, 2))["id"]
    assert (await context(client, auth, before)).json()["data"] == {}
    assert (await context(client, auth, after)).json()["data"] == {"city": "Oslo"}


async def test_runs_approvals_and_the_busy_state_belong_to_one_session(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    sid = (await make_session(client, auth))["id"]
    waiting = await client.post(
        f"{API}/agent/message", json={"session_id": sid, "message": REMEMBER}, headers=auth
    )
    assert waiting.status_code == 202, waiting.text
    parent_approval = waiting.json()["approval"]
    busy = await client.post(
        f"{API}/agent/message", json={"session_id": sid, "message": "x"}, headers=auth
    )
    assert_problem(busy, 409, "session_busy")

    # Forked at the waiting run's input: the fork answers it with a run of its own.
    child = (await fork(client, auth, sid, 1))["id"]
    answered = await client.post(f"{API}/agent/message", json={"session_id": child}, headers=auth)
    assert answered.status_code == 202, answered.text
    child_approval = answered.json()["approval"]
    assert answered.json()["run"]["session_id"] == child
    assert child_approval["id"] != parent_approval["id"]

    def approvals_of(session_id: str) -> Any:
        return get_json(client, f"/approvals?session_id={session_id}", auth)

    assert [a["id"] for a in (await approvals_of(child))["items"]] == [child_approval["id"]]
    assert [a["id"] for a in (await approvals_of(sid))["items"]] == [parent_approval["id"]]

    # Deciding one session's approval resumes only that session's run.
    await client.post(
        f"{API}/approvals/{child_approval['id']}/decision",
        json={"decision": "reject"},
        headers=auth,
    )
    await run_events(client, auth, answered.json()["run"]["id"])
    events = await stream_message(client, auth, session_id=child, message="and now?")
    assert events[-1].type == "done"
    still_busy = await client.post(
        f"{API}/agent/message", json={"session_id": sid, "message": "x"}, headers=auth
    )
    assert_problem(still_busy, 409, "session_busy")
    assert [m["role"] for m in await history(client, auth, sid)] == ["user", "assistant"]
