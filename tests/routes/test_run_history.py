"""Runs you can see: a session's runs, one run's agent, usage and error, usage summed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from models import Run, RunStatus
from services import Services
from tests.factories import make_session, make_user
from tests.problems import assert_problem
from tests.runs_support import API, get_json, stream_message


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"delta_coalesce_ms": 0}


async def run_of(
    client: httpx.AsyncClient, headers: dict[str, str], session_id: str, message: str
) -> dict[str, Any]:
    events = await stream_message(client, headers, session_id=session_id, message=message)
    run: dict[str, Any] = await get_json(client, f"/runs/{events[0].data['run_id']}", headers)
    return run


async def test_a_run_shows_its_agent_usage_and_error(
    client: httpx.AsyncClient, services: Services
) -> None:
    headers = await make_user(services)
    session = await make_session(client, headers)
    first = await run_of(client, headers, session["id"], "hello there")
    assert first == {
        "id": first["id"],
        "session_id": session["id"],
        "status": "completed",
        "agent": "default",
        "agent_version": 0,
        "input_message_id": first["input_message_id"],
        "error": None,
        # The scripted provider counts words: it read "hello there", wrote "Echo: hello there".
        "usage": {"prompt_tokens": 2, "completion_tokens": 3},
        "created_at": first["created_at"],
        "started_at": first["started_at"],
        "finished_at": first["finished_at"],
        "last_event_id": first["last_event_id"],
    }
    # The next run reads the history too: 2 + 3 + 1 words, and writes "Echo: again".
    second = await run_of(client, headers, session["id"], "again")
    assert second["usage"] == {"prompt_tokens": 6, "completion_tokens": 2}
    # Two model rounds: the tool call, then the answer to its result.
    tool = await run_of(client, headers, session["id"], "/tool clock")
    assert tool["usage"]["prompt_tokens"] > 0 and tool["usage"]["completion_tokens"] > 2

    failed = await run_of(client, headers, session["id"], "/tool ")
    assert failed["status"] == "failed"
    assert failed["error"] == {
        "code": "invalid_tool_command",
        "message": "Usage: /tool NAME {json-args}",
    }
    reason = "The server shut down during the run."
    interrupted = await Run.create(
        session_id=UUID(session["id"]), status=RunStatus.INTERRUPTED, error=reason
    )
    shown = await get_json(client, f"/runs/{interrupted.id}", headers)
    assert shown["error"] == {"code": "interrupted", "message": reason}


async def test_a_sessions_runs_newest_first_in_pages(
    client: httpx.AsyncClient, services: Services
) -> None:
    headers = await make_user(services)
    session = await make_session(client, headers)
    runs = [await run_of(client, headers, session["id"], f"message {n}") for n in range(3)]
    url = f"/sessions/{session['id']}/runs"
    first = await get_json(client, f"{url}?limit=2", headers)
    assert [r["id"] for r in first["items"]] == [runs[2]["id"], runs[1]["id"]]
    assert first["items"][0] == runs[2]
    rest = await get_json(client, f"{url}?limit=2&cursor={first['next_cursor']}", headers)
    assert [r["id"] for r in rest["items"]] == [runs[0]["id"]]
    assert rest["next_cursor"] is None

    other = await make_session(client, headers)
    assert (await get_json(client, f"/sessions/{other['id']}/runs", headers))["items"] == []
    stranger, admin = await make_user(services), await make_user(services, admin=True)
    assert_problem(await client.get(f"{API}{url}", headers=stranger), 404, "session_not_found")
    assert len((await get_json(client, url, admin))["items"]) == 3  # admins read everything
    assert_problem(await client.get(f"{API}{url}?cursor=x", headers=headers), 400)
    assert_problem(await client.get(f"{API}{url}?limit=0", headers=headers), 422)


async def test_usage_is_summed_per_session_and_user_since_a_time(
    client: httpx.AsyncClient, services: Services
) -> None:
    alice, bob = await make_user(services), await make_user(services)
    admin = await make_user(services, admin=True)
    short = await make_session(client, alice)
    long = await make_session(client, alice)
    before = datetime.now(UTC) - timedelta(seconds=1)
    await run_of(client, alice, short["id"], "hi")  # 1 read, 2 written
    await run_of(client, alice, long["id"], "one two three four")  # 4 read, 5 written
    await run_of(client, alice, long["id"], "five")  # 4 + 5 + 1 read, 2 written
    await run_of(client, bob, (await make_session(client, bob))["id"], "x")

    report = await get_json(client, "/usage", alice)
    alice_id = report["users"][0]["user_id"]
    assert report["since"] is None
    assert report["total"] == {"prompt_tokens": 15, "completion_tokens": 9, "runs": 3}
    assert report["users"] == [{"user_id": alice_id, **report["total"]}]
    assert report["sessions"] == [
        {"session_id": long["id"], "prompt_tokens": 14, "completion_tokens": 7, "runs": 2},
        {"session_id": short["id"], "prompt_tokens": 1, "completion_tokens": 2, "runs": 1},
    ]
    limited = await get_json(client, "/usage?limit=1", alice)
    assert [s["session_id"] for s in limited["sessions"]] == [long["id"]]

    since = await client.get(f"{API}/usage", headers=alice, params={"since": before.isoformat()})
    assert since.json()["total"] == report["total"]
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    future = await get_json(client, f"/usage?since={later.replace('+00:00', 'Z')}", alice)
    assert future["total"] == {"prompt_tokens": 0, "completion_tokens": 0, "runs": 0}
    assert future["users"] == [] and future["sessions"] == []
    naive = await client.get(f"{API}/usage", headers=alice, params={"since": "2000-01-01T00:00:00"})
    assert naive.status_code == 200 and naive.json()["since"].startswith("2000-01-01T00:00:00")
    assert naive.json()["total"] == report["total"]
    assert_problem(await client.get(f"{API}/usage?since=yesterday", headers=alice), 422)

    everyone = await get_json(client, "/usage", admin)
    assert everyone["total"]["runs"] == 4
    assert len(everyone["users"]) == 2 and everyone["users"][0]["user_id"] == alice_id


async def test_tokens_are_counted_by_agent_for_prometheus(
    client: httpx.AsyncClient, services: Services
) -> None:
    headers = await make_user(services)
    created = await client.post(
        f"{API}/agents", headers=headers, json={"name": "echoer", "provider": "scripted"}
    )
    assert created.status_code == 201, created.text
    await run_of(client, headers, (await make_session(client, headers))["id"], "a b c")
    session = await make_session(client, headers, agent="echoer")
    await run_of(client, headers, session["id"], "d e")

    text = (await client.get("/metrics")).text
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }

    def tokens(agent: str, kind: str) -> float:
        return samples[("terrapin_agent_tokens_total", (("agent", agent), ("kind", kind)))]

    assert (tokens("default", "prompt"), tokens("default", "completion")) == (3, 4)
    assert (tokens("echoer", "prompt"), tokens("echoer", "completion")) == (2, 3)
