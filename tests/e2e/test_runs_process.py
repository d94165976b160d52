"""Runs across real server processes: restart while waiting, SIGKILL and SIGTERM mid-stream."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from httpx_sse import aconnect_sse

from tests.databases import REPO_ROOT
from tests.runs_support import API, Event, assert_ids, types, wait_until

pytestmark = pytest.mark.slow

LONG = " ".join(f"word{i}" for i in range(100))  # 100 deltas at 50 ms: ~5 s of streaming


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    """`python -m project runserver` in a child process, restartable on the same database."""

    def __init__(self, database_url: str, logs: Path, **env: str) -> None:
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "TERRAPIN_TOKEN_DELAY_MS": "50",
            "TERRAPIN_RUN_LEASE_SECONDS": "2",
            "TERRAPIN_SWEEP_INTERVAL_SECONDS": "0.5",
            "TERRAPIN_SHUTDOWN_GRACE_SECONDS": "1",
            "TERRAPIN_STREAM_POLL_SECONDS": "0.5",
            "TERRAPIN_LOG_LEVEL": "WARNING",
            **env,
        }
        self.logs = logs
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: asyncio.subprocess.Process | None = None
        self.starts = 0

    async def manage(self, *args: str) -> str:
        """Run a management command to completion; return its stdout."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "project",
            *args,
            cwd=REPO_ROOT,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()
        return out.decode()

    async def start(self) -> None:
        self.starts += 1
        log = (self.logs / f"server-{self.starts}.log").open("wb")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "project",
            "runserver",
            "--port",
            str(self.port),
            cwd=REPO_ROOT,
            env=self.env,
            stdout=log,
            stderr=log,
        )
        log.close()
        async with httpx.AsyncClient(base_url=self.url, timeout=2) as http:

            async def ready() -> bool:
                assert self.proc is not None
                if self.proc.returncode is not None:
                    raise AssertionError(f"server exited early:\n{self.log_text()}")
                try:
                    return (await http.get("/readyz")).status_code == 200
                except httpx.TransportError:
                    return False

            await wait_until(ready, within=60, interval=0.1)

    async def stop(self, sig: int) -> int:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
        code = await asyncio.wait_for(self.proc.wait(), 30)
        return code

    def log_text(self) -> str:
        return "\n".join(
            path.read_text(errors="replace") for path in sorted(self.logs.glob("*.log"))
        )


@pytest_asyncio.fixture
async def server(database_url: str, tmp_path: Path) -> AsyncIterator[Server]:
    running = Server(database_url, tmp_path)
    await running.start()
    try:
        yield running
    finally:
        if running.proc is not None and running.proc.returncode is None:
            running.proc.kill()
            await running.proc.wait()


@pytest_asyncio.fixture
async def http(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    token = (await server.manage("createuser", "e2e-user")).strip().splitlines()[-1]
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as client:
        yield client


async def follow(http: httpx.AsyncClient, run_id: str, after: int = 0) -> list[Event]:
    """GET /runs/{id}/events after `after` until the stream ends."""
    events: list[Event] = []
    async with asyncio.timeout(60):
        async with aconnect_sse(
            http, "GET", f"{API}/runs/{run_id}/events", headers={"Last-Event-ID": str(after)}
        ) as source:
            async for sse in source.aiter_sse():
                events.append(Event(sse.event, int(sse.id), json.loads(sse.data)))
    return events


async def read_until_deltas(
    http: httpx.AsyncClient, body: dict[str, Any], deltas: int, then: Any
) -> list[Event]:
    """Stream a message; after `deltas` deltas call `then()`; keep reading until the stream ends."""
    events: list[Event] = []
    triggered = False
    try:
        async with asyncio.timeout(60):
            async with aconnect_sse(
                http, "POST", f"{API}/agent/message/stream", json=body
            ) as source:
                async for sse in source.aiter_sse():
                    events.append(Event(sse.event, int(sse.id), json.loads(sse.data)))
                    if not triggered and types(events).count("delta") >= deltas:
                        triggered = True
                        await then()
    except httpx.TransportError:
        pass  # the server died under the stream
    assert triggered, types(events)
    return events


async def get(http: httpx.AsyncClient, url: str) -> Any:
    response = await http.get(f"{API}{url}")
    assert response.status_code == 200, response.text
    return response.json()


async def run_status_becomes(http: httpx.AsyncClient, run_id: str, status: str) -> None:
    async def reached() -> bool:
        return bool((await get(http, f"/runs/{run_id}"))["status"] == status)

    await wait_until(reached, within=30, interval=0.1)


async def assistant_of(http: httpx.AsyncClient, session_id: str, run_id: str) -> dict[str, Any]:
    page = await get(http, f"/sessions/{session_id}/messages?limit=500")
    [message] = [m for m in page["items"] if m["run_id"] == run_id and m["role"] == "assistant"]
    return dict(message)


async def assert_session_accepts_messages(http: httpx.AsyncClient, session_id: str) -> None:
    response = await http.post(
        f"{API}/agent/message", json={"session_id": session_id, "message": "still alive"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["run"]["status"] == "completed"
    assert body["messages"][-1]["content"] == "Echo: still alive"


async def test_decision_after_restart_completes_the_run(
    server: Server, http: httpx.AsyncClient
) -> None:
    response = await http.post(
        f"{API}/agent/message", json={"message": '/tool remember {"key": "k", "value": "v"}'}
    )
    assert response.status_code == 202, response.text
    run_id, session_id = response.json()["run"]["id"], response.json()["run"]["session_id"]
    approval_id = response.json()["approval"]["id"]

    assert await server.stop(signal.SIGTERM) == 0
    await server.start()

    assert (await get(http, f"/runs/{run_id}"))["status"] == "waiting_approval"
    pending = await get(http, "/approvals?status=pending")
    assert [item["id"] for item in pending["items"]] == [approval_id]
    decided = await http.post(
        f"{API}/approvals/{approval_id}/decision", json={"decision": "approve"}
    )
    assert decided.status_code == 200, decided.text
    events = await follow(http, run_id)
    assert_ids(events)
    assert types(events)[:6] == [
        "run",
        "message",
        "tool_call",
        "approval_required",
        "approval_decided",
        "tool_result",
    ]
    assert events[-1].type == "done" and events[-1].data["status"] == "completed"
    assert events[5].data["result"] == {"key": "k", "value": "v"}
    context = await get(http, f"/sessions/{session_id}/context")
    assert context["data"] == {"k": "v"}
    assert await server.stop(signal.SIGTERM) == 0


async def test_sigkill_mid_stream_interrupts_the_run(
    server: Server, http: httpx.AsyncClient
) -> None:
    async def kill() -> None:
        await server.stop(signal.SIGKILL)

    received = await read_until_deltas(http, {"message": LONG}, 3, kill)
    run_id, session_id = received[0].data["run_id"], received[0].data["session_id"]
    assert "done" not in types(received)

    await server.start()

    await run_status_becomes(http, run_id, "interrupted")
    message = await assistant_of(http, session_id, run_id)
    assert message["status"] == "interrupted"
    assert message["content"] and ("Echo: " + LONG).startswith(message["content"])
    assert message["content"] != "Echo: " + LONG
    events = await follow(http, run_id)
    assert_ids(events)
    assert events[: len(received)] == received
    assert events[-1].type == "done" and events[-1].data["status"] == "interrupted"
    assert message["content"].startswith(
        "".join(e.data["text"] for e in events if e.type == "delta")
    )
    await assert_session_accepts_messages(http, session_id)
    assert await server.stop(signal.SIGTERM) == 0


async def test_sigterm_mid_stream_exits_cleanly(server: Server, http: httpx.AsyncClient) -> None:
    async def terminate() -> None:
        assert server.proc is not None
        server.proc.send_signal(signal.SIGTERM)

    received = await read_until_deltas(http, {"message": LONG}, 3, terminate)
    assert await server.stop(signal.SIGTERM) == 0
    run_id, session_id = received[0].data["run_id"], received[0].data["session_id"]

    await server.start()

    run = await get(http, f"/runs/{run_id}")
    assert run["status"] in {"completed", "interrupted"}
    assert run["status"] == "interrupted"  # 100 words at 50 ms outlast a 1 s grace
    events = await follow(http, run_id)
    assert_ids(events)
    assert events[: len(received)] == received  # what the client saw is a prefix of the log
    assert events[-1].type == "done" and events[-1].data["status"] == run["status"]
    message = await assistant_of(http, session_id, run_id)
    assert message["status"] == "interrupted" and message["content"]
    assert ("Echo: " + LONG).startswith(message["content"])
    await assert_session_accepts_messages(http, session_id)
    assert await server.stop(signal.SIGTERM) == 0
