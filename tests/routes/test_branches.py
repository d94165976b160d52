"""Forks over HTTP: what a fork shares with its parent, paging across fork points, listing forks."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from services import Services
from tests.branches_support import (
    API,
    append,
    append_many,
    contents,
    fork,
    history,
    history_backwards,
)
from tests.factories import make_session, make_user
from tests.problems import assert_problem


async def test_a_fork_shares_the_history_up_to_its_fork_point_and_then_has_its_own(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    parent = await make_session(client, auth, title="trip", metadata={"team": "travel"})
    shared = await append_many(client, auth, parent["id"], "p", 5)

    child = await fork(client, auth, parent["id"], 3)

    assert child["parent_id"] == parent["id"] and child["forked_at_seq"] == 3
    assert child["message_count"] == 3
    assert (child["title"], child["metadata"], child["agent"]) == (
        "trip",
        {"team": "travel"},
        "default",
    )
    assert child["last_message_at"] == shared[2]["created_at"]
    assert await history(client, auth, child["id"]) == shared[:3]  # the parent's rows, as stored

    own = await append(client, auth, child["id"], "c-4")
    later = await append(client, auth, parent["id"], "p-6")
    assert own["seq"] == 4 and own["session_id"] == child["id"]
    assert later["seq"] == 6
    assert contents(await history(client, auth, child["id"])) == ["p-1", "p-2", "p-3", "c-4"]
    assert contents(await history(client, auth, parent["id"])) == [*(f"p-{n}" for n in range(1, 7))]


async def test_a_fork_takes_its_own_title_and_metadata(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    parent = await make_session(client, auth, title="trip", metadata={"team": "travel"})
    child = await fork(client, auth, parent["id"], 0, title="plan B", metadata={})
    assert (child["title"], child["metadata"]) == ("plan B", {})
    assert child["message_count"] == 0 and child["last_message_at"] is None
    assert await history(client, auth, child["id"]) == []
    assert (await append(client, auth, child["id"], "first"))["seq"] == 1


async def test_session_reads_show_the_lineage(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    root = await make_session(client, auth)
    await append_many(client, auth, root["id"], "r", 2)
    child = await fork(client, auth, root["id"], 1)
    grandchild = await fork(client, auth, child["id"], 1)

    read = (await client.get(f"{API}/sessions/{root['id']}", headers=auth)).json()
    assert (read["parent_id"], read["forked_at_seq"]) == (None, None)
    read = (await client.get(f"{API}/sessions/{grandchild['id']}", headers=auth)).json()
    assert (read["parent_id"], read["forked_at_seq"]) == (child["id"], 1)
    listed = (await client.get(f"{API}/sessions", headers=auth)).json()["items"]
    lineage = {item["id"]: (item["parent_id"], item["forked_at_seq"]) for item in listed}
    assert lineage == {
        root["id"]: (None, None),
        child["id"]: (root["id"], 1),
        grandchild["id"]: (child["id"], 1),
    }


@pytest.mark.parametrize("at_seq", [-1, 4, 2**31 - 1])
async def test_a_fork_point_past_the_last_seq_is_a_validation_error(
    client: httpx.AsyncClient, services: Services, at_seq: int
) -> None:
    auth = await make_user(services)
    parent = await make_session(client, auth)
    await append_many(client, auth, parent["id"], "p", 3)
    response = await client.post(
        f"{API}/sessions/{parent['id']}/fork", json={"at_seq": at_seq}, headers=auth
    )
    body = assert_problem(response, 422, "validation_error")
    assert body["errors"][0]["loc"] == ["body", "at_seq"]
    assert len((await client.get(f"{API}/sessions", headers=auth)).json()["items"]) == 1


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"at_seq": 1.5},
        {"at_seq": None},
        {"at_seq": 1, "title": "x" * 201},
        {"at_seq": 1, "extra": 1},
    ],
)
async def test_a_malformed_fork_body_is_a_validation_error(
    client: httpx.AsyncClient, services: Services, body: dict[str, Any]
) -> None:
    auth = await make_user(services)
    parent = await make_session(client, auth)
    await append(client, auth, parent["id"], "hello")
    response = await client.post(f"{API}/sessions/{parent['id']}/fork", json=body, headers=auth)
    assert_problem(response, 422, "validation_error")


async def build_lineage(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> tuple[list[dict[str, Any]], list[list[str]]]:
    """Six generations of forks: above, at and below their parent's fork point, at its end.

    Returns the sessions (root first) and each one's expected history.
    """
    root = await make_session(client, auth)
    await append_many(client, auth, root["id"], "g0", 12)
    sessions, expected = [root], [[f"g0-{n}" for n in range(1, 13)]]
    # (fork point in the previous generation, own messages)
    plan = [(9, 6), (11, 3), (4, 7), (11, 0), (10, 5), (13, 2)]
    for generation, (at_seq, own) in enumerate(plan, start=1):
        child = await fork(client, auth, sessions[-1]["id"], at_seq)
        added = await append_many(client, auth, child["id"], f"g{generation}", own)
        assert [m["seq"] for m in added] == list(range(at_seq + 1, at_seq + own + 1))
        sessions.append(child)
        expected.append(expected[-1][:at_seq] + contents(added))
    return sessions, expected


@pytest.mark.parametrize("limit", [1, 2, 3, 5, 50])
async def test_paging_crosses_fork_points_at_every_depth(
    client: httpx.AsyncClient, services: Services, limit: int
) -> None:
    auth = await make_user(services)
    sessions, expected = await build_lineage(client, auth)
    for session, wanted in zip(sessions, expected, strict=True):
        forward = await history(client, auth, session["id"], limit)
        assert contents(forward) == wanted
        assert [m["seq"] for m in forward] == list(range(1, len(wanted) + 1))
        assert contents(await history_backwards(client, auth, session["id"], limit)) == wanted


async def test_after_seq_and_before_seq_are_positions_in_the_fork_history(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    sessions, expected = await build_lineage(client, auth)
    deepest, wanted = sessions[-1]["id"], expected[-1]
    url = f"{API}/sessions/{deepest}/messages"
    for after in range(len(wanted) + 2):
        page = (await client.get(url, params={"after_seq": after, "limit": 4}, headers=auth)).json()
        assert contents(page["items"]) == wanted[after : after + 4]
        assert (page["next_cursor"] is None) == (after + 4 >= len(wanted))
    for before in range(len(wanted) + 3):
        params = {"before_seq": before, "limit": 4}
        page = (await client.get(url, params=params, headers=auth)).json()
        upto = min(before - 1, len(wanted))
        assert contents(page["items"]) == wanted[max(upto - 4, 0) : max(upto, 0)]
        assert (page["next_cursor"] is None) == (upto - 4 <= 0)


async def test_a_fork_of_an_empty_stretch_reads_its_grandparent(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    root = await make_session(client, auth)
    await append_many(client, auth, root["id"], "r", 6)
    child = await fork(client, auth, root["id"], 5)
    await append_many(client, auth, child["id"], "c", 2)
    # Forked below the child's own fork point: nothing of the child's own is shared.
    grandchild = await fork(client, auth, child["id"], 2)
    assert contents(await history(client, auth, grandchild["id"])) == ["r-1", "r-2"]
    await append(client, auth, grandchild["id"], "g-3")
    assert contents(await history(client, auth, grandchild["id"], 1)) == ["r-1", "r-2", "g-3"]
    assert contents(await history(client, auth, child["id"])) == [
        "r-1",
        "r-2",
        "r-3",
        "r-4",
        "r-5",
        "c-1",
        "c-2",
    ]


async def test_branches_lists_the_direct_forks_newest_first_in_keyset_pages(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    parent = await make_session(client, auth)
    await append_many(client, auth, parent["id"], "p", 4)
    forks = [await fork(client, auth, parent["id"], n % 5) for n in range(5)]
    await fork(client, auth, forks[0]["id"], 0)  # a grandchild is not a direct fork
    await append(client, auth, forks[1]["id"], "moves it to the top")

    seen: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        response = await client.get(
            f"{API}/sessions/{parent['id']}/branches", params=params, headers=auth
        )
        assert response.status_code == 200, response.text
        page = response.json()
        seen += page["items"]
        if page["next_cursor"] is None:
            break
        params = {"limit": 2, "cursor": page["next_cursor"]}
    assert [item["id"] for item in seen] == [
        forks[1]["id"],
        forks[4]["id"],
        forks[3]["id"],
        forks[2]["id"],
        forks[0]["id"],
    ]
    assert [item["forked_at_seq"] for item in seen] == [1, 4, 3, 2, 0]
    assert all(item["parent_id"] == parent["id"] for item in seen)
    bad = await client.get(f"{API}/sessions/{parent['id']}/branches?cursor=nope", headers=auth)
    assert_problem(bad, 400, "invalid_cursor")
