"""`runserver --workers 2` on PostgreSQL: SIGTERM drains every worker, /metrics adds them up."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from httpx_sse import aconnect_sse
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry

from tests.databases import REPO_ROOT
from tests.e2e.server import create_token, free_port, is_ready, server_env, start_server
from tests.runs_support import API, Event, types, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("dialect", ["postgres"], indirect=True)]

GRACE_SECONDS = 2
WAIT = '/tool remember {"key": "k", "value": "v"}'  # the run waits for a human
LONG = " ".join(f"word{i}" for i in range(200))  # 200 words at 50 ms: outlasts the grace


@dataclass
class Workers:
    """A running `runserver --workers 2`: the gunicorn master and its log."""

    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def output(self) -> str:
        """Everything the master and its workers printed."""
        return self.log.read_text(errors="replace")

    def metrics_dir(self) -> Path:
        """The folder the workers write their metrics to (from the master's environment)."""
        environ = Path(f"/proc/{self.proc.pid}/environ").read_bytes().split(b"\0")
        [entry] = [item for item in environ if item.startswith(b"PROMETHEUS_MULTIPROC_DIR=")]
        return Path(entry.split(b"=", 1)[1].decode())


@pytest.fixture
def workers(database_url: str, tmp_path: Path) -> Iterator[Workers]:
    port = free_port()
    log = tmp_path / "server.log"
    env = server_env(
        database_url,
        TERRAPIN_LOG_LEVEL="INFO",  # gunicorn reports a worker that did not exit 0 at INFO
        TERRAPIN_SHUTDOWN_GRACE_SECONDS=str(GRACE_SECONDS),
        TERRAPIN_TOKEN_DELAY_MS="50",
    )
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "project", "runserver", "--workers", "2", "--port", str(port)],
            cwd=REPO_ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    running = Workers(proc, f"http://127.0.0.1:{port}", log)
    try:
        yield running
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def ready(workers: Workers) -> None:
    """Wait until both workers answer (each logs that its startup completed)."""

    async def started() -> bool:
        if workers.proc.poll() is not None:
            raise AssertionError(f"server exited:\n{workers.output()}")
        return workers.output().count("Application startup complete") == 2

    await wait_until(started, within=60, interval=0.1)


@pytest_asyncio.fixture
async def auth(database_url: str, workers: Workers) -> AsyncIterator[dict[str, str]]:
    token = await asyncio.to_thread(create_token, database_url, "workers")
    await ready(workers)
    yield {"Authorization": f"Bearer {token}"}


async def open_stream(
    url: str, auth: dict[str, str], message: str, until: str, received: list[Event]
) -> asyncio.Task[None]:
    """Stream a message on a connection of its own; return once `until` arrived.

    The task goes on reading to the end of the stream, and fails if the
    connection breaks instead of ending.
    """
    arrived = asyncio.Event()

    async def read() -> None:
        async with httpx.AsyncClient(base_url=url, headers=auth, timeout=30) as http:
            body = {"message": message}
            async with aconnect_sse(http, "POST", f"{API}/agent/message/stream", json=body) as sse:
                async for event in sse.aiter_sse():
                    received.append(Event(event.event, int(event.id), json.loads(event.data)))
                    if event.event == until:
                        arrived.set()

    task = asyncio.create_task(read())
    waiter = asyncio.create_task(arrived.wait())
    await asyncio.wait([task, waiter], timeout=30, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if task.done():
        task.result()  # the stream ended (or broke) early: show why
    assert arrived.is_set(), types(received)
    return task


async def test_sigterm_drains_every_worker(
    workers: Workers, auth: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    waiting: list[list[Event]] = [[] for _ in range(4)]  # on four connections: both workers
    streams = [
        await open_stream(workers.url, auth, WAIT, "approval_required", events)
        for events in waiting
    ]
    running: list[Event] = []
    streams.append(await open_stream(workers.url, auth, LONG, "delta", running))

    started = time.monotonic()
    workers.proc.terminate()
    await asyncio.wait_for(asyncio.gather(*streams), 30)  # every stream ends, none breaks
    exit_code = await asyncio.to_thread(workers.proc.wait, 30)
    stopped_after = time.monotonic() - started

    output = workers.output()
    assert exit_code == 0, output
    assert stopped_after < GRACE_SECONDS + 8, output  # drained, not timed out
    for failure in ["timeout graceful shutdown exceeded", "Traceback", "was sent", "exited with"]:
        assert failure not in output, output  # every worker exited 0, by itself
    assert output.count("Worker exiting") == 2, output
    # Streams waiting for a human ended at once, after what they had been sent.
    for events in waiting:
        assert types(events)[-1] == "approval_required"

    # Clients resume with Last-Event-ID on the next server: the waiting run goes on once
    # decided, and the running run, stopped after its grace, ends `interrupted`.
    restarted = start_server(database_url, tmp_path / "restarted.log")
    try:
        async with httpx.AsyncClient(base_url=restarted.base_url, headers=auth, timeout=30) as http:

            async def up() -> bool:
                return await asyncio.to_thread(is_ready, restarted)

            await wait_until(up, within=60, interval=0.1)
            first = waiting[0]
            approval_id = first[-1].data["approval_id"]
            decided = await http.post(
                f"{API}/approvals/{approval_id}/decision", json={"decision": "approve"}
            )
            assert decided.status_code == 200, decided.text
            resumed = await resume(http, first)
            assert resumed[0].type == "approval_decided"
            assert resumed[-1].type == "done" and resumed[-1].data["status"] == "completed"
            # Its stream may have ended with the run or, caught up, just before it.
            if running[-1].type != "done":
                running += await resume(http, running)
            assert running[-1].type == "done" and running[-1].data["status"] == "interrupted"
    finally:
        assert await asyncio.to_thread(restarted.terminate) == 0


async def resume(http: httpx.AsyncClient, received: list[Event]) -> list[Event]:
    """Follow a run's stream from after the last event received, to its end."""
    resumed: list[Event] = []
    url = f"{API}/runs/{received[0].data['run_id']}/events"
    headers = {"Last-Event-ID": str(received[-1].id)}
    async with aconnect_sse(http, "GET", url, headers=headers) as sse:
        async for event in sse.aiter_sse():
            resumed.append(Event(event.event, int(event.id), json.loads(event.data)))
    # Nothing lost, nothing repeated: the stream goes on right after the last event seen.
    assert resumed and resumed[0].id == received[-1].id + 1, types(resumed)
    return resumed


def per_worker_requests(metrics_dir: Path, tmp_path: Path) -> dict[str, float]:
    """Each worker's own count of answered requests, read from its metrics file."""
    counts: dict[str, float] = {}
    for path in metrics_dir.glob("counter_*.db"):
        alone = tmp_path / path.stem
        alone.mkdir()
        shutil.copy(path, alone / path.name)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(alone))  # type: ignore[no-untyped-call]
        counts[path.stem.removeprefix("counter_")] = sum(
            sample.value
            for family in registry.collect()
            for sample in family.samples
            if sample.name == "terrapin_http_requests_total"
            and sample.labels["route"] == "/api/v1/sessions"
        )
    return counts


async def test_metrics_add_up_over_the_workers(
    workers: Workers, auth: dict[str, str], tmp_path: Path
) -> None:
    requests = 40
    for _ in range(requests):  # a connection each: the workers take turns accepting them
        async with httpx.AsyncClient(base_url=workers.url, headers=auth) as http:
            assert (await http.get(f"{API}/sessions")).status_code == 200

    metrics_dir = workers.metrics_dir()
    per_worker = per_worker_requests(metrics_dir, tmp_path)
    assert sum(per_worker.values()) == requests
    assert len([count for count in per_worker.values() if count > 0]) == 2, per_worker

    for _ in range(6):  # whichever worker answers the scrape, it reports the total
        async with httpx.AsyncClient(base_url=workers.url) as http:
            scrape = await http.get("/metrics")
        assert scrape.status_code == 200
        samples = [
            sample
            for family in text_string_to_metric_families(scrape.text)
            for sample in family.samples
        ]
        answered = sum(
            s.value
            for s in samples
            if s.name == "terrapin_http_requests_total" and s.labels["route"] == "/api/v1/sessions"
        )
        assert answered == requests
        # The standard series, one per worker.
        memory = {s.labels["pid"] for s in samples if s.name == "process_resident_memory_bytes"}
        assert memory == set(per_worker), memory
        assert any(s.name == "python_info" for s in samples)
        assert any(s.name == "python_gc_collections_total" for s in samples)

    workers.proc.terminate()
    assert await asyncio.to_thread(workers.proc.wait, 30) == 0
    assert not metrics_dir.exists()  # each run starts from an empty folder of its own
