"""Agent context over HTTP: ETag / If-Match optimistic concurrency."""

from __future__ import annotations

import asyncio

import httpx

from models import AgentContext
from services import Services
from tests.factories import make_session, make_user, raw_headers
from tests.problems import assert_problem

API = "/api/v1"


async def test_get_then_put_with_etag(client: httpx.AsyncClient, services: Services) -> None:
    auth = await make_user(services)
    sid = (await make_session(client, auth))["id"]
    url = f"{API}/sessions/{sid}/context"
    read = await client.get(url, headers=auth)
    assert read.status_code == 200
    assert read.json() == {"version": 0, "data": {}}
    assert read.headers["etag"] == '"0"'

    put = await client.put(
        url, json={"data": {"goal": "x"}}, headers={**auth, "If-Match": read.headers["etag"]}
    )
    assert put.status_code == 200, put.text
    assert put.json() == {"version": 1, "data": {"goal": "x"}}
    assert put.headers["etag"] == '"1"'
    again = await client.get(url, headers=auth)
    assert again.json() == {"version": 1, "data": {"goal": "x"}}
    assert again.headers["etag"] == '"1"'


async def test_put_without_if_match_is_428(client: httpx.AsyncClient, services: Services) -> None:
    auth = await make_user(services)
    sid = (await make_session(client, auth))["id"]
    response = await client.put(f"{API}/sessions/{sid}/context", json={"data": {}}, headers=auth)
    assert_problem(response, 428, "precondition_required")
    assert (await AgentContext.get(session_id=sid)).version == 0


async def test_stale_or_garbage_if_match_is_412(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    sid = (await make_session(client, auth))["id"]
    url = f"{API}/sessions/{sid}/context"
    ok = await client.put(url, json={"data": {"a": 1}}, headers={**auth, "If-Match": '"0"'})
    assert ok.status_code == 200
    for stale in ('"0"', '"7"', "garbage", '"-1"'):
        response = await client.put(
            url, json={"data": {"b": 2}}, headers={**auth, "If-Match": stale}
        )
        assert_problem(response, 412, "version_conflict")
    stored = await AgentContext.get(session_id=sid)
    assert (stored.version, stored.data) == (1, {"a": 1})


async def test_racing_puts_with_one_etag_exactly_one_wins(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    sid = (await make_session(client, auth))["id"]
    url = f"{API}/sessions/{sid}/context"
    responses = await asyncio.gather(
        *(
            client.put(url, json={"data": {"n": n}}, headers={**auth, "If-Match": '"0"'})
            for n in range(2)
        )
    )
    assert sorted(r.status_code for r in responses) == [200, 412]
    winner = next(r for r in responses if r.status_code == 200).json()
    loser = next(r for r in responses if r.status_code == 412)
    assert_problem(loser, 412, "version_conflict")
    stored = await AgentContext.get(session_id=sid)
    assert (stored.version, stored.data) == (1, winner["data"])


async def test_context_size_is_limited(client: httpx.AsyncClient, services: Services) -> None:
    auth = await make_user(services)
    sid = (await make_session(client, auth))["id"]
    big = {"blob": "x" * (256 * 1024)}
    response = await client.put(
        f"{API}/sessions/{sid}/context", json={"data": big}, headers={**auth, "If-Match": '"0"'}
    )
    assert_problem(response, 413, "payload_too_large")
    assert (await AgentContext.get(session_id=sid)).version == 0


def _latin1(value: str) -> bytes:
    """Header bytes as a client sends them ("²" is the single byte 0xB2 in Latin-1)."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode()


async def test_if_match_names_versions_in_ascii_digits_and_int32_only(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    sid = (await make_session(client, auth))["id"]
    url = f"{API}/sessions/{sid}/context"
    # "²" and "١" pass str.isdigit(); 2147483648 overflows the version column on PostgreSQL.
    for bad in ('"²"', "²", '"\u0661"', '"2147483648"', '"9999999999"', '"+1"', '" 1"'):
        response = await client.put(
            url, json={"data": {"b": 2}}, headers=raw_headers(auth, {"If-Match": _latin1(bad)})
        )
        assert_problem(response, 412, "version_conflict")
    stored = await AgentContext.get(session_id=sid)
    assert (stored.version, stored.data) == (0, {})


async def test_weak_etag_does_not_satisfy_if_match(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    sid = (await make_session(client, auth))["id"]
    url = f"{API}/sessions/{sid}/context"
    weak = await client.put(url, json={"data": {"a": 1}}, headers={**auth, "If-Match": 'W/"0"'})
    assert_problem(weak, 412, "version_conflict")
    assert (await AgentContext.get(session_id=sid)).version == 0
    # A list matches if any strong tag names the current version.
    listed = await client.put(
        url, json={"data": {"a": 1}}, headers={**auth, "If-Match": 'W/"0", "5", "0"'}
    )
    assert listed.status_code == 200, listed.text
    assert listed.json() == {"version": 1, "data": {"a": 1}}


async def test_if_none_match_with_the_current_etag_is_304(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    sid = (await make_session(client, auth))["id"]
    url = f"{API}/sessions/{sid}/context"
    for current in ('"0"', 'W/"0"', '"7", "0"', "*"):
        response = await client.get(url, headers={**auth, "If-None-Match": current})
        assert response.status_code == 304, (current, response.text)
        assert response.headers["etag"] == '"0"'
        assert response.content == b""
    for other in ('"1"', 'W/"1"', "garbage", '"²"'):
        response = await client.get(
            url, headers=raw_headers(auth, {"If-None-Match": _latin1(other)})
        )
        assert response.status_code == 200, other
        assert response.json() == {"version": 0, "data": {}}
    await client.put(url, json={"data": {"a": 1}}, headers={**auth, "If-Match": '"0"'})
    stale = await client.get(url, headers={**auth, "If-None-Match": '"0"'})
    assert stale.status_code == 200
    assert stale.headers["etag"] == '"1"'


async def test_200_concurrent_puts_each_answer_the_version_they_wrote(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    sid = (await make_session(client, auth))["id"]
    url = f"{API}/sessions/{sid}/context"
    sent = [{"writer": n, "blob": f"w{n}"} for n in range(200)]
    responses = await asyncio.gather(
        *(client.put(url, json={"data": data}, headers={**auth, "If-Match": "*"}) for data in sent)
    )
    versions = []
    for data, response in zip(sent, responses, strict=True):
        assert response.status_code == 200, response.text
        body = response.json()
        # Update and re-read were two statements: a response could carry another PUT's data.
        assert body["data"] == data
        assert response.headers["etag"] == f'"{body["version"]}"'
        versions.append(body["version"])
    assert sorted(versions) == list(range(1, 201))
    stored = await AgentContext.get(session_id=sid)
    assert stored.version == 200
    assert stored.data == sent[versions.index(200)]
