"""Bearer auth and per-user isolation: foreign ids look exactly like unknown ones."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from models import ApiToken, ChatSession, Message
from services import Services
from tests.factories import make_session, make_user
from tests.problems import assert_problem

API = "/api/v1"


def endpoints(sid: str) -> list[tuple[str, str, dict[str, Any] | None, dict[str, str]]]:
    """Every session-scoped endpoint: (method, path, json body, extra headers)."""
    return [
        ("GET", f"/sessions/{sid}", None, {}),
        ("PATCH", f"/sessions/{sid}", {"title": "pwned"}, {}),
        ("DELETE", f"/sessions/{sid}", None, {}),
        ("GET", f"/sessions/{sid}/messages", None, {}),
        ("GET", f"/sessions/{sid}/messages?before_seq=5", None, {}),
        ("POST", f"/sessions/{sid}/messages", {"role": "user", "content": "x"}, {}),
        ("GET", f"/sessions/{sid}/context", None, {}),
        ("PUT", f"/sessions/{sid}/context", {"data": {"x": 1}}, {"If-Match": '"0"'}),
        ("POST", f"/sessions/{sid}/fork", {"at_seq": 1}, {}),
        ("POST", f"/sessions/{sid}/messages/1/edit", {"content": "x"}, {}),
        ("POST", f"/sessions/{sid}/regenerate", None, {}),
        ("GET", f"/sessions/{sid}/branches", None, {}),
    ]


def _comparable(response: httpx.Response) -> tuple[int, str, Any]:
    return response.status_code, response.headers["content-type"], response.json()


async def test_foreign_ids_answer_exactly_like_unknown_ids(
    client: httpx.AsyncClient, services: Services
) -> None:
    alice = await make_user(services)
    bob = await make_user(services)
    bobs = await make_session(client, bob, title="bob's")
    await client.post(
        f"{API}/sessions/{bobs['id']}/messages",
        json={"role": "user", "content": "secret"},
        headers=bob,
    )
    unknown = str(uuid.uuid4())
    for (method, path, body, extra), (_, unknown_path, _, _) in zip(
        endpoints(bobs["id"]), endpoints(unknown), strict=True
    ):
        foreign = await client.request(
            method, f"{API}{path}", json=body, headers={**alice, **extra}
        )
        missing = await client.request(
            method, f"{API}{unknown_path}", json=body, headers={**alice, **extra}
        )
        assert_problem(foreign, 404, "session_not_found")
        assert _comparable(foreign) == _comparable(missing), (method, path)

    listing = (await client.get(f"{API}/sessions", headers=alice)).json()
    assert listing == {"items": [], "next_cursor": None}
    # Bob's data is untouched by every attempt.
    mine = (await client.get(f"{API}/sessions/{bobs['id']}", headers=bob)).json()
    assert (mine["title"], mine["message_count"]) == ("bob's", 1)
    context = await client.get(f"{API}/sessions/{bobs['id']}/context", headers=bob)
    assert context.json() == {"version": 0, "data": {}}
    assert await Message.filter(session_id=bobs["id"]).count() == 1
    assert not await ChatSession.filter(parent_id=bobs["id"]).exists()


async def test_admin_reads_every_session_but_changes_only_its_own(
    client: httpx.AsyncClient, services: Services
) -> None:
    admin = await make_user(services, admin=True)
    bob = await make_user(services)
    bobs = await make_session(client, bob)
    sid = bobs["id"]
    assert (await client.get(f"{API}/sessions/{sid}", headers=admin)).json() == bobs
    assert (await client.get(f"{API}/sessions/{sid}/messages", headers=admin)).status_code == 200
    assert (await client.get(f"{API}/sessions/{sid}/context", headers=admin)).status_code == 200
    listed = (await client.get(f"{API}/sessions", headers=admin)).json()
    assert sid in [s["id"] for s in listed["items"]]
    patch = await client.patch(f"{API}/sessions/{sid}", json={"title": "x"}, headers=admin)
    assert_problem(patch, 404, "session_not_found")
    branches = await client.get(f"{API}/sessions/{sid}/branches", headers=admin)
    assert branches.json() == {"items": [], "next_cursor": None}
    forked = await client.post(f"{API}/sessions/{sid}/fork", json={"at_seq": 0}, headers=admin)
    assert_problem(forked, 404, "session_not_found")


BAD_AUTHORIZATION = [
    None,
    "",
    "Bearer",
    "Bearer ",
    "Basic dXNlcjpwYXNz",
    "Bearer not-a-token",
    "Bearer tp_" + "A" * 43,
    "Bearer tp_" + "x" * 500,
    "Token tp_abc",
]


async def test_bad_tokens_answer_401_with_www_authenticate(
    client: httpx.AsyncClient, services: Services
) -> None:
    await make_user(services)
    for authorization in BAD_AUTHORIZATION:
        headers = {} if authorization is None else {"Authorization": authorization}
        for method, path in [("GET", "/sessions"), ("POST", "/sessions")]:
            response = await client.request(method, f"{API}{path}", json={}, headers=headers)
            assert_problem(response, 401, "unauthorized")
            assert response.headers["www-authenticate"] == "Bearer", authorization
    assert (await client.get(f"{API}/sessions", headers={"Authorization": "Bearer x"})).json()[
        "code"
    ] == "unauthorized"


async def test_revoked_token_answers_401(client: httpx.AsyncClient, services: Services) -> None:
    issued = await services.users.create_user("carol")
    auth = {"Authorization": f"Bearer {issued.token}"}
    assert (await client.get(f"{API}/sessions", headers=auth)).status_code == 200
    assert await services.users.revoke_token(issued.prefix) == 1
    response = await client.get(f"{API}/sessions", headers=auth)
    assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"
    # A second token of the same user still works.
    other = await services.users.create_token("carol")
    ok = await client.get(f"{API}/sessions", headers={"Authorization": f"Bearer {other.token}"})
    assert ok.status_code == 200


async def test_tokens_are_stored_hashed(services: Services) -> None:
    issued = await services.users.create_user("dave")
    assert len(issued.token) >= 43  # 32 random bytes, base64url
    row = await ApiToken.get(prefix=issued.prefix)
    assert issued.token not in (row.token_hash, row.prefix)
    assert issued.token.startswith(row.prefix)


async def test_last_used_at_is_not_written_on_every_request(
    client: httpx.AsyncClient, services: Services
) -> None:
    issued = await services.users.create_user("erin")
    auth = {"Authorization": f"Bearer {issued.token}"}
    assert (await ApiToken.get(prefix=issued.prefix)).last_used_at is None
    await client.get(f"{API}/sessions", headers=auth)
    first = (await ApiToken.get(prefix=issued.prefix)).last_used_at
    assert first is not None
    for _ in range(3):
        assert (await client.get(f"{API}/sessions", headers=auth)).status_code == 200
    assert (await ApiToken.get(prefix=issued.prefix)).last_used_at == first
