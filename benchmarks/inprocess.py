"""CPU per request with the apps called in-process: the floor and Terrapin, side by side.

`python -m benchmarks.inprocess [--dialect sqlite|postgres] [--requests 2000] [--rounds 10]`

No HTTP and no load generator: each ASGI app is called directly, one request
after another, and the process's CPU time (`time.process_time`: the database
driver's threads included, the database server excluded) is divided by the
requests. Rounds alternate between the two apps, both started in this one
process on the same seeded database, and the median round is reported.
This isolates what the server itself costs from the load generator, the
kernel's TCP work and the database server, which share the machine in
`make bench`. Appends here are sequential, so Terrapin's group commit writes
batches of one: the figure is per-request cost, not throughput under load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from benchmarks import common, eventloop
from benchmarks.seed import seeded_database
from benchmarks.workloads import requests_for

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
WORKLOADS = ["get_session", "list_messages", "append"]
SERVERS = ["floor", "terrapin"]


def build_app(server: str, database_url: str) -> Any:
    """The floor's or Terrapin's app for `database_url`, not started."""
    if server == "floor":
        os.environ["DATABASE_URL"] = database_url  # the floor reads it in its factory
        from benchmarks.servers import floor

        return floor.create_app()
    from core.settings import Settings
    from project.app import create_app

    settings = Settings(
        _env_file=None,
        database_url=database_url,
        token_delay_ms=0,
        log_level="WARNING",
        **common.NO_PER_USER_LIMITS,
    )
    return create_app(settings)


async def call(app: ASGIApp, state: dict[str, Any], spec: dict[str, Any]) -> int:
    """Send one request spec to `app`; return the response status."""
    url = urlsplit(spec["path"])
    body = (spec.get("body") or "").encode()
    headers = [(b"host", b"bench")] + [
        (name.lower().encode(), value.encode()) for name, value in spec["headers"].items()
    ]
    if body:
        headers.append((b"content-length", str(len(body)).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": spec["method"],
        "scheme": "http",
        "path": url.path,
        "raw_path": url.path.encode(),
        "query_string": url.query.encode(),
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("bench", 80),
        "state": dict(state),
    }
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    status = 0

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def measure(
    database_url: str, headers: dict[str, str], sessions: list[str], options: argparse.Namespace
) -> dict[str, dict[str, list[float]]]:
    """Per workload and server: the CPU milliseconds per request of every round."""
    rounds: dict[str, dict[str, list[float]]] = {w: {s: [] for s in SERVERS} for w in WORKLOADS}
    apps = {server: build_app(server, database_url) for server in SERVERS}
    async with (
        apps["floor"].router.lifespan_context(apps["floor"]) as floor_state,
        apps["terrapin"].router.lifespan_context(apps["terrapin"]) as terrapin_state,
    ):
        states = {"floor": floor_state or {}, "terrapin": terrapin_state or {}}
        for workload in options.workloads:
            specs = requests_for(workload, sessions, headers)
            for server in SERVERS:  # warm-up: caches, prepared statements, first batches
                for spec in specs:
                    await _checked(apps[server], states[server], spec)
            for _ in range(options.rounds):
                for server in SERVERS:
                    started = time.process_time()
                    for index in range(options.requests):
                        await _checked(apps[server], states[server], specs[index % len(specs)])
                    elapsed = time.process_time() - started
                    rounds[workload][server].append(elapsed / options.requests * 1000)
    return rounds


async def _checked(app: ASGIApp, state: dict[str, Any], spec: dict[str, Any]) -> None:
    status = await call(app, state, spec)
    if not 200 <= status < 300:
        raise RuntimeError(f"{spec['method']} {spec['path']} answered {status}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dialect", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--requests", type=int, default=2000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=10, help="rounds per server")
    parser.add_argument("--workloads", nargs="+", choices=WORKLOADS, default=WORKLOADS)
    parser.add_argument("--history", type=int, default=60, help="messages per session")
    options = parser.parse_args()
    if options.dialect == "postgres" and (reason := common.pg_available()):
        raise SystemExit(f"PostgreSQL not reachable: {reason}")
    print(f"machine: {common.machine()}; {options.rounds} rounds of {options.requests} requests")
    with seeded_database(options.dialect, common.CONCURRENCY, options.history) as db:
        # On uvloop when installed, as uvicorn runs.
        rounds = eventloop.run(measure(db.url, db.headers, db.sessions, options))
    print("\n| workload | floor ms/request | Terrapin ms/request | Terrapin/floor (speed) |")
    print("| --- | ---: | ---: | ---: |")
    summary = {}
    for workload, by_server in rounds.items():
        if not by_server["floor"]:
            continue
        floor_ms = statistics.median(by_server["floor"])
        terrapin_ms = statistics.median(by_server["terrapin"])
        summary[workload] = {"floor_ms": floor_ms, "terrapin_ms": terrapin_ms}
        print(
            f"| {options.dialect} {workload} | {floor_ms:.3f} | {terrapin_ms:.3f} | "
            f"{floor_ms / terrapin_ms:.2f} |"
        )
    path = common.write_results(
        f"inprocess-{options.dialect}",
        {"machine": common.machine(), "options": vars(options), "rounds": rounds, **summary},
    )
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
