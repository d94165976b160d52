"""Sessions CRUD over HTTP, as docs/api.md specifies."""

from __future__ import annotations

import uuid

import httpx

from models import AgentContext, ChatSession, Message
from services import Services
from tests.factories import make_session, make_user
from tests.problems import assert_problem

API = "/api/v1"


async def test_create_read_update_delete(client: httpx.AsyncClient, services: Services) -> None:
    auth = await make_user(services)
    created = await make_session(client, auth, title="Plan", metadata={"k": 1})
    assert created["title"] == "Plan"
    assert created["agent"] == "default"
    assert created["status"] == "active"
    assert created["metadata"] == {"k": 1}
    assert created["message_count"] == 0
    assert created["last_message_at"] is None
    sid = created["id"]

    read = await client.get(f"{API}/sessions/{sid}", headers=auth)
    assert read.status_code == 200
    assert read.json() == created

    patched = await client.patch(
        f"{API}/sessions/{sid}", json={"title": "Renamed", "status": "archived"}, headers=auth
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert (body["title"], body["status"], body["metadata"]) == ("Renamed", "archived", {"k": 1})
    assert body["updated_at"] > created["updated_at"]

    deleted = await client.delete(f"{API}/sessions/{sid}", headers=auth)
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert_problem(
        await client.get(f"{API}/sessions/{sid}", headers=auth), 404, "session_not_found"
    )
    assert_problem(await client.delete(f"{API}/sessions/{sid}", headers=auth), 404)


async def test_create_defaults_with_empty_body(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    created = await make_session(client, auth)
    assert (created["title"], created["agent"], created["metadata"]) == ("", "default", {})
    context = await client.get(f"{API}/sessions/{created['id']}/context", headers=auth)
    assert context.json() == {"version": 0, "data": {}}


async def test_delete_cascades_to_messages_and_context(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    keep = await make_session(client, auth)
    gone = await make_session(client, auth)
    for session in (keep, gone):
        for text in ("a", "b"):
            response = await client.post(
                f"{API}/sessions/{session['id']}/messages",
                json={"role": "user", "content": text},
                headers=auth,
            )
            assert response.status_code == 201
    assert (await client.delete(f"{API}/sessions/{gone['id']}", headers=auth)).status_code == 204

    assert not await ChatSession.filter(id=gone["id"]).exists()
    assert await Message.filter(session_id=gone["id"]).count() == 0
    assert await AgentContext.filter(session_id=gone["id"]).count() == 0
    assert await Message.filter(session_id=keep["id"]).count() == 2
    assert await AgentContext.filter(session_id=keep["id"]).count() == 1
    messages = await client.get(f"{API}/sessions/{gone['id']}/messages", headers=auth)
    assert_problem(messages, 404, "session_not_found")


async def test_list_is_newest_first_with_cursor_pages(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    ids = [(await make_session(client, auth, title=f"s{i}"))["id"] for i in range(5)]
    # Touching the oldest session moves it to the front (ordered by updated_at).
    await client.patch(f"{API}/sessions/{ids[0]}", json={"title": "touched"}, headers=auth)
    expected = [ids[0], *reversed(ids[1:])]

    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        response = await client.get(f"{API}/sessions", params=params, headers=auth)
        assert response.status_code == 200, response.text
        page = response.json()
        assert set(page) == {"items", "next_cursor"}
        seen += [item["id"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == expected
    assert pages == 3


async def test_list_last_page_has_null_cursor_and_status_filter(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    active = await make_session(client, auth)
    archived = await make_session(client, auth)
    await client.patch(
        f"{API}/sessions/{archived['id']}", json={"status": "archived"}, headers=auth
    )

    everything = (await client.get(f"{API}/sessions", headers=auth)).json()
    assert everything["next_cursor"] is None
    assert len(everything["items"]) == 2
    only_active = await client.get(f"{API}/sessions", params={"status": "active"}, headers=auth)
    assert [s["id"] for s in only_active.json()["items"]] == [active["id"]]
    only_archived = await client.get(f"{API}/sessions", params={"status": "archived"}, headers=auth)
    assert [s["id"] for s in only_archived.json()["items"]] == [archived["id"]]
    exact = await client.get(f"{API}/sessions", params={"limit": 2}, headers=auth)
    assert exact.json()["next_cursor"] is None


async def test_patch_metadata_only_keeps_title(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    session = await make_session(client, auth, title="T")
    response = await client.patch(
        f"{API}/sessions/{session['id']}", json={"metadata": {"x": [1, 2]}}, headers=auth
    )
    assert response.status_code == 200
    assert response.json()["title"] == "T"
    assert response.json()["metadata"] == {"x": [1, 2]}


async def test_unknown_session_is_problem_404(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    unknown = uuid.uuid4()
    for method, path in [
        ("GET", f"/sessions/{unknown}"),
        ("PATCH", f"/sessions/{unknown}"),
        ("DELETE", f"/sessions/{unknown}"),
    ]:
        response = await client.request(method, f"{API}{path}", json={}, headers=auth)
        assert_problem(response, 404, "session_not_found")


async def test_archived_session_refuses_appends(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    session = await make_session(client, auth)
    await client.patch(f"{API}/sessions/{session['id']}", json={"status": "archived"}, headers=auth)
    response = await client.post(
        f"{API}/sessions/{session['id']}/messages",
        json={"role": "user", "content": "hi"},
        headers=auth,
    )
    assert_problem(response, 409, "session_archived")
    assert await Message.filter(session_id=session["id"]).count() == 0
