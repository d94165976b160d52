"""Appending and paging messages over HTTP."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import httpx
import pytest

from models import ChatSession, Message
from services import Services
from tests.factories import make_session, make_user
from tests.problems import assert_problem

API = "/api/v1"


async def append(
    client: httpx.AsyncClient, auth: dict[str, str], sid: str, **body: Any
) -> httpx.Response:
    body.setdefault("role", "user")
    return await client.post(f"{API}/sessions/{sid}/messages", json=body, headers=auth)


async def test_append_returns_201_with_the_stored_message(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    session = await make_session(client, auth)
    response = await append(client, auth, session["id"], content="hello", metadata={"a": 1})
    assert response.status_code == 201, response.text
    message = response.json()
    assert message["seq"] == 1
    assert message["session_id"] == session["id"]
    assert (message["role"], message["content"], message["status"]) == (
        "user",
        "hello",
        "complete",
    )
    assert message["metadata"] == {"a": 1}
    assert message["client_message_id"] is None
    stored = await Message.get(id=message["id"])
    assert stored.content == "hello"
    after = (await client.get(f"{API}/sessions/{session['id']}", headers=auth)).json()
    assert after["message_count"] == 1
    assert after["last_message_at"] is not None
    assert after["updated_at"] >= message["created_at"]


async def test_history_pages_after_and_before(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    sid = (await make_session(client, auth))["id"]
    for i in range(7):
        assert (await append(client, auth, sid, content=f"m{i}")).status_code == 201
    url = f"{API}/sessions/{sid}/messages"

    seqs: list[int] = []
    params: dict[str, Any] = {"limit": 3}
    while True:
        page = (await client.get(url, params=params, headers=auth)).json()
        assert set(page) == {"items", "next_cursor"}
        seqs += [m["seq"] for m in page["items"]]
        if page["next_cursor"] is None:
            break
        params = {"limit": 3, "cursor": page["next_cursor"]}
    assert seqs == list(range(1, 8))

    after = (await client.get(url, params={"after_seq": 5}, headers=auth)).json()
    assert [m["seq"] for m in after["items"]] == [6, 7]
    assert after["next_cursor"] is None

    older = (await client.get(url, params={"before_seq": 7, "limit": 2}, headers=auth)).json()
    assert [m["seq"] for m in older["items"]] == [5, 6]
    older2 = (
        await client.get(url, params={"cursor": older["next_cursor"], "limit": 2}, headers=auth)
    ).json()
    assert [m["seq"] for m in older2["items"]] == [3, 4]
    oldest = (await client.get(url, params={"before_seq": 3, "limit": 5}, headers=auth)).json()
    assert [m["seq"] for m in oldest["items"]] == [1, 2]
    assert oldest["next_cursor"] is None


async def test_after_and_before_seq_together_page_strictly_between(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    sid = (await make_session(client, auth))["id"]
    for i in range(9):
        assert (await append(client, auth, sid, content=f"m{i}")).status_code == 201
    url = f"{API}/sessions/{sid}/messages"

    # after_seq=2&before_seq=5 answered seqs 1-4 (before_seq won silently).
    between = (await client.get(url, params={"after_seq": 2, "before_seq": 5}, headers=auth)).json()
    assert [m["seq"] for m in between["items"]] == [3, 4]
    assert between["next_cursor"] is None

    seqs: list[int] = []
    params: dict[str, Any] = {"after_seq": 1, "before_seq": 8, "limit": 2}
    while True:
        page = (await client.get(url, params=params, headers=auth)).json()
        seqs += [m["seq"] for m in page["items"]]
        if page["next_cursor"] is None:
            break
        params = {"cursor": page["next_cursor"], "limit": 2}
    assert seqs == [2, 3, 4, 5, 6, 7]  # the cursor keeps the upper bound

    for empty in ({"after_seq": 4, "before_seq": 5}, {"after_seq": 6, "before_seq": 2}):
        page = (await client.get(url, params=empty, headers=auth)).json()
        assert page == {"items": [], "next_cursor": None}


async def test_a_forks_history_pages_strictly_between_too(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    parent = (await make_session(client, auth))["id"]
    for i in range(5):
        assert (await append(client, auth, parent, content=f"p{i}")).status_code == 201
    fork = await client.post(f"{API}/sessions/{parent}/fork", json={"at_seq": 3}, headers=auth)
    assert fork.status_code == 201, fork.text
    fid = fork.json()["id"]
    for i in range(4):
        assert (await append(client, auth, fid, content=f"f{i}")).status_code == 201
    url = f"{API}/sessions/{fid}/messages"  # seqs 1-3 from the parent, 4-7 its own

    seqs: list[int] = []
    params: dict[str, Any] = {"after_seq": 1, "before_seq": 7, "limit": 2}
    while True:
        page = (await client.get(url, params=params, headers=auth)).json()
        seqs += [m["seq"] for m in page["items"]]
        if page["next_cursor"] is None:
            break
        params = {"cursor": page["next_cursor"], "limit": 2}
    assert seqs == [2, 3, 4, 5, 6]
    contents = (
        await client.get(url, params={"after_seq": 2, "before_seq": 5}, headers=auth)
    ).json()
    assert [m["content"] for m in contents["items"]] == ["p2", "f0"]


async def test_a_cursor_with_after_or_before_seq_is_400(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    sid = (await make_session(client, auth))["id"]
    for i in range(3):
        assert (await append(client, auth, sid, content=f"m{i}")).status_code == 201
    url = f"{API}/sessions/{sid}/messages"
    cursor = (await client.get(url, params={"limit": 1}, headers=auth)).json()["next_cursor"]
    for extra in ({"after_seq": 0}, {"before_seq": 3}, {"after_seq": 1, "before_seq": 3}):
        response = await client.get(url, params={"cursor": cursor, **extra}, headers=auth)
        assert_problem(response, 400, "conflicting_parameters")


async def test_idempotent_retry_answers_200_with_the_original(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    sid = (await make_session(client, auth))["id"]
    first = await append(client, auth, sid, content="hi", client_message_id="c-1")
    again = await append(client, auth, sid, content="hi", client_message_id="c-1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert await Message.filter(session_id=sid).count() == 1
    assert (await ChatSession.get(id=sid)).message_count == 1


async def test_same_client_id_other_body_is_409(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    sid = (await make_session(client, auth))["id"]
    await append(client, auth, sid, content="hi", client_message_id="c-1")
    for other in (
        {"content": "changed"},
        {"content": "hi", "role": "assistant"},
        {"content": "hi", "metadata": {"x": 1}},
    ):
        response = await append(client, auth, sid, client_message_id="c-1", **other)
        assert_problem(response, 409, "idempotency_conflict")
    assert await Message.filter(session_id=sid).count() == 1


async def test_client_message_ids_are_per_session(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    one = (await make_session(client, auth))["id"]
    two = (await make_session(client, auth))["id"]
    a = await append(client, auth, one, content="x", client_message_id="same")
    b = await append(client, auth, two, content="x", client_message_id="same")
    assert (a.status_code, b.status_code) == (201, 201)
    assert a.json()["id"] != b.json()["id"]


async def test_identical_requests_racing_create_one_row(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    sid = (await make_session(client, auth))["id"]
    responses = await asyncio.gather(
        *(append(client, auth, sid, content="once", client_message_id="race") for _ in range(10))
    )
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] * 9 + [201]
    assert len({r.json()["id"] for r in responses}) == 1
    assert await Message.filter(session_id=sid).count() == 1
    assert (await ChatSession.get(id=sid)).message_count == 1


async def test_200_concurrent_appends_get_seqs_1_to_200(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    sid = (await make_session(client, auth))["id"]
    responses = await asyncio.gather(
        *(append(client, auth, sid, content=f"m{i}") for i in range(200))
    )
    assert {r.status_code for r in responses} == {201}
    assert sorted(r.json()["seq"] for r in responses) == list(range(1, 201))
    # flat=True gives the values themselves; tortoise types every values_list as tuples
    stored = cast(
        list[int],
        await Message.filter(session_id=sid).order_by("seq").values_list("seq", flat=True),
    )
    assert stored == list(range(1, 201))
    session = await ChatSession.get(id=sid)
    assert session.message_count == 200
    assert session.last_message_at is not None
    latest = await Message.filter(session_id=sid).order_by("-seq").first()
    assert latest is not None
    assert session.last_message_at == latest.created_at
    assert session.updated_at >= latest.created_at


@pytest.mark.parametrize("settings_overrides", [{"group_commit_max_batch": 1}])
async def test_identical_requests_racing_in_separate_transactions_create_one_row(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    sid = (await make_session(client, auth))["id"]
    responses = await asyncio.gather(
        *(append(client, auth, sid, content="once", client_message_id="solo") for _ in range(5)),
        *(append(client, auth, sid, content=f"other {i}") for i in range(5)),
    )
    assert services.message_writer.batches >= 10  # one transaction per request
    replays = responses[:5]
    assert sorted(r.status_code for r in replays) == [200] * 4 + [201]
    assert len({r.json()["id"] for r in replays}) == 1
    assert await Message.filter(session_id=sid).count() == 6
    seqs = cast(
        list[int],
        await Message.filter(session_id=sid).order_by("seq").values_list("seq", flat=True),
    )
    assert seqs == [1, 2, 3, 4, 5, 6]
