"""Editing a user message, regenerating a reply, and letting the agent answer the history."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from agent.providers.scripted import split_words
from services import Services
from tests.branches_support import API, append, contents, fork, history
from tests.factories import make_session, make_user
from tests.problems import assert_problem
from tests.runs_support import Event, assert_ids, delta_text, get_json, stream_message, types


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"delta_coalesce_ms": 0}


async def conversation(
    client: httpx.AsyncClient, auth: dict[str, str], *turns: str
) -> dict[str, Any]:
    """A session with one scripted agent turn per text: user message, then its echo."""
    session = await make_session(client, auth, title="chat", metadata={"k": 1})
    for text in turns:
        await stream_message(client, auth, session_id=session["id"], message=text)
    return session


async def edit(
    client: httpx.AsyncClient, auth: dict[str, str], sid: str, seq: int, content: str
) -> httpx.Response:
    return await client.post(
        f"{API}/sessions/{sid}/messages/{seq}/edit", json={"content": content}, headers=auth
    )


async def regenerate(client: httpx.AsyncClient, auth: dict[str, str], sid: str) -> httpx.Response:
    return await client.post(f"{API}/sessions/{sid}/regenerate", headers=auth)


def assert_answer_stream(events: list[Event], reply: str, session_id: str) -> None:
    """An answer run: `run`, the reply's deltas, the reply, `done`; no user message."""
    assert_ids(events)
    assert types(events) == ["run", *["delta"] * len(split_words(reply)), "message", "done"]
    assert events[0].data["session_id"] == session_id
    assert delta_text(events) == reply == events[-2].data["content"]
    assert events[-2].data["session_id"] == session_id
    assert events[-1].data["status"] == "completed"


async def test_edit_forks_before_the_message_with_the_new_content(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    parent = await make_session(client, auth, title="chat")
    await append(client, auth, parent["id"], "q1")
    await append(client, auth, parent["id"], "a1", "assistant")
    original = await client.post(
        f"{API}/sessions/{parent['id']}/messages",
        json={"role": "user", "content": "q2", "metadata": {"lang": "en"}},
        headers=auth,
    )
    await append(client, auth, parent["id"], "a2", "assistant")

    response = await edit(client, auth, parent["id"], 3, "q2, better")

    assert response.status_code == 201, response.text
    child = response.json()
    assert (child["parent_id"], child["forked_at_seq"]) == (parent["id"], 2)
    assert (child["message_count"], child["title"]) == (3, "chat")
    messages = await history(client, auth, child["id"])
    assert contents(messages) == ["q1", "a1", "q2, better"]
    edited = messages[-1]
    assert (edited["seq"], edited["role"], edited["session_id"]) == (3, "user", child["id"])
    assert edited["metadata"] == {"lang": "en"} and edited["id"] != original.json()["id"]
    assert child["last_message_at"] == edited["created_at"]
    assert contents(await history(client, auth, parent["id"])) == ["q1", "a1", "q2", "a2"]


async def test_editing_a_shared_message_forks_the_fork(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    parent = await make_session(client, auth)
    for text in ("q1", "q2"):
        await append(client, auth, parent["id"], text)
    child = await fork(client, auth, parent["id"], 2)
    response = await edit(client, auth, child["id"], 1, "q1 again")
    assert response.status_code == 201, response.text
    grandchild = response.json()
    assert (grandchild["parent_id"], grandchild["forked_at_seq"]) == (child["id"], 0)
    assert contents(await history(client, auth, grandchild["id"])) == ["q1 again"]


@pytest.mark.parametrize("role", ["assistant", "system", "tool"])
async def test_only_user_messages_can_be_edited(
    client: httpx.AsyncClient, services: Services, role: str
) -> None:
    auth = await make_user(services)
    parent = await make_session(client, auth)
    await append(client, auth, parent["id"], "q1")
    await append(client, auth, parent["id"], "not yours", role)
    problem = assert_problem(await edit(client, auth, parent["id"], 2, "x"), 409)
    assert problem["code"] == "message_not_editable" and problem["role"] == role
    assert (await client.get(f"{API}/sessions/{parent['id']}/branches", headers=auth)).json()[
        "items"
    ] == []


@pytest.mark.parametrize(
    ("seq", "body"),
    [
        (0, {"content": "x"}),
        (3, {"content": "x"}),
        (2**31, {"content": "x"}),
        (1, {"content": ""}),
        (1, {}),
        (1, {"content": "x", "role": "user"}),
        (1, {"content": "\x00"}),
    ],
)
async def test_bad_edits_are_validation_errors(
    client: httpx.AsyncClient, services: Services, seq: int, body: dict[str, Any]
) -> None:
    auth = await make_user(services)
    parent = await make_session(client, auth)
    for text in ("q1", "q2"):
        await append(client, auth, parent["id"], text)
    response = await client.post(
        f"{API}/sessions/{parent['id']}/messages/{seq}/edit", json=body, headers=auth
    )
    assert_problem(response, 422, "validation_error")


async def test_edited_content_over_the_size_limit_is_refused(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    parent = await make_session(client, auth)
    await append(client, auth, parent["id"], "q1")
    too_big = "x" * (services.settings.max_message_bytes + 1)
    problem = assert_problem(await edit(client, auth, parent["id"], 1, too_big), 413)
    assert problem["code"] == "payload_too_large"
    assert problem["errors"][0]["loc"] == ["body", "content"]


@pytest.mark.parametrize(
    ("roles", "fork_point"),
    [
        (["user", "assistant", "user", "assistant"], 3),
        (["user", "assistant", "user"], 1),  # the last reply answers the first question
        (["system", "user", "assistant", "tool", "assistant"], 2),
        (["user", "user", "assistant", "system"], 2),
    ],
)
async def test_regenerate_forks_at_the_question_of_the_last_reply(
    client: httpx.AsyncClient, services: Services, roles: list[str], fork_point: int
) -> None:
    auth = await make_user(services)
    parent = await make_session(client, auth)
    for number, role in enumerate(roles, start=1):
        await append(client, auth, parent["id"], f"m{number}", role)
    response = await regenerate(client, auth, parent["id"])
    assert response.status_code == 201, response.text
    child = response.json()
    assert (child["parent_id"], child["forked_at_seq"]) == (parent["id"], fork_point)
    assert contents(await history(client, auth, child["id"])) == [
        f"m{n}" for n in range(1, fork_point + 1)
    ]


async def test_regenerate_searches_the_ancestors(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    root = await make_session(client, auth)
    await append(client, auth, root["id"], "q1")
    await append(client, auth, root["id"], "a1", "assistant")
    child = await fork(client, auth, root["id"], 2)
    await append(client, auth, child["id"], "note", "system")
    response = await regenerate(client, auth, child["id"])
    assert response.status_code == 201, response.text
    assert (response.json()["parent_id"], response.json()["forked_at_seq"]) == (child["id"], 1)


@pytest.mark.parametrize("roles", [[], ["user"], ["user", "user"], ["assistant", "user"]])
async def test_regenerate_without_an_answered_question_is_409(
    client: httpx.AsyncClient, services: Services, roles: list[str]
) -> None:
    auth = await make_user(services)
    parent = await make_session(client, auth)
    for role in roles:
        await append(client, auth, parent["id"], "m", role)
    assert_problem(await regenerate(client, auth, parent["id"]), 409, "nothing_to_regenerate")


async def test_edit_then_answer_over_sse(client: httpx.AsyncClient, services: Services) -> None:
    auth = await make_user(services)
    parent = await conversation(client, auth, "hello", "second question")
    before = await history(client, auth, parent["id"])

    child = (await edit(client, auth, parent["id"], 3, "second, rephrased")).json()
    events = await stream_message(client, auth, session_id=child["id"])

    assert_answer_stream(events, "Echo: second, rephrased", child["id"])
    messages = await history(client, auth, child["id"])
    assert contents(messages) == [
        "hello",
        "Echo: hello",
        "second, rephrased",
        "Echo: second, rephrased",
    ]
    assert messages[:2] == before[:2]
    assert events[-2].data == messages[-1]
    run = await get_json(client, f"/runs/{events[0].data['run_id']}", auth)
    assert run["session_id"] == child["id"] and run["input_message_id"] == messages[2]["id"]
    assert await history(client, auth, parent["id"]) == before


async def test_regenerate_then_answer_over_sse(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    parent = await conversation(client, auth, "hello", "second question")
    before = await history(client, auth, parent["id"])

    response = await regenerate(client, auth, parent["id"])
    assert response.status_code == 201, response.text
    child = response.json()
    assert child["forked_at_seq"] == 3
    events = await stream_message(client, auth, session_id=child["id"])

    assert_answer_stream(events, "Echo: second question", child["id"])
    messages = await history(client, auth, child["id"])
    assert messages[:3] == before[:3]
    assert (messages[3]["seq"], messages[3]["session_id"]) == (4, child["id"])
    assert messages[3]["content"] == before[3]["content"]
    assert messages[3]["id"] != before[3]["id"]  # a new reply, not the first one
    assert await history(client, auth, parent["id"]) == before


async def test_answer_and_wait(client: httpx.AsyncClient, services: Services) -> None:
    auth = await make_user(services)
    parent = await conversation(client, auth, "hello")
    child = (await edit(client, auth, parent["id"], 1, "hi")).json()
    response = await client.post(
        f"{API}/agent/message", json={"session_id": child["id"]}, headers=auth
    )
    assert response.status_code == 200, response.text
    turn = response.json()
    assert turn["run"]["status"] == "completed" and turn["approval"] is None
    assert [(m["role"], m["content"], m["seq"]) for m in turn["messages"]] == [
        ("assistant", "Echo: hi", 2)
    ]
    again = await client.post(
        f"{API}/agent/message", json={"session_id": child["id"]}, headers=auth
    )
    assert_problem(again, 409, "nothing_to_answer")


@pytest.mark.parametrize("path", ["/agent/message", "/agent/message/stream"])
async def test_nothing_to_answer_is_409(
    client: httpx.AsyncClient, services: Services, path: str
) -> None:
    auth = await make_user(services)
    empty = await make_session(client, auth)
    answered = await conversation(client, auth, "hello")
    for sid in (empty["id"], answered["id"]):
        response = await client.post(f"{API}{path}", json={"session_id": sid}, headers=auth)
        assert_problem(response, 409, "nothing_to_answer")
    assert (await get_json(client, f"/sessions/{answered['id']}", auth))["message_count"] == 2


@pytest.mark.parametrize(
    "body",
    [{}, {"agent": "default"}, {"session_id": None}, {"client_message_id": "c1"}],
)
async def test_answering_needs_a_session(
    client: httpx.AsyncClient, services: Services, body: dict[str, Any]
) -> None:
    auth = await make_user(services)
    session = await make_session(client, auth)
    if "client_message_id" in body:
        body = {**body, "session_id": session["id"]}
    response = await client.post(f"{API}/agent/message", json=body, headers=auth)
    assert_problem(response, 422, "validation_error")
    assert (await client.get(f"{API}/sessions", headers=auth)).json()["items"] == [session]
