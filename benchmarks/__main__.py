"""`python -m benchmarks` (`make bench`): four servers, same workloads, one table.

Servers: ceiling (constant answers), floor (raw drivers + hand-written SQL),
old (the design Terrapin replaces) and Terrapin (`python -m project
runserver`). Targets: SQLite, PostgreSQL, and PostgreSQL behind a proxy that
adds 2 ms per round trip. Workloads: GET a session, list 50 messages, append
a message, and (Terrapin only) one scripted agent turn over SSE.
See benchmarks/README.md. Other benchmarks: `python -m benchmarks.group_commit`,
`python -m benchmarks.scaling` (startup/RSS with 1,000,000 sessions,
newest 50 of a 100,000-message session, 1,000 concurrent SSE runs) and
`python -m benchmarks.branches` (forks at any history length and depth).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from typing import Any

from benchmarks import common
from benchmarks.seed import seeded_database
from benchmarks.workloads import requests_for

SERVERS = ["ceiling", "floor", "old", "terrapin"]
WORKLOADS = ["get_session", "list_messages", "append", "agent_turn"]
TARGETS = ["sqlite", "postgres", "postgres+2ms"]


@contextlib.contextmanager
def serve(name: str, database_url: str, headers: dict[str, str]) -> Iterator[common.Server]:
    """Start one of the four servers against `database_url`."""
    port = common.free_port()
    if name == "terrapin":
        argv = [sys.executable, "-m", "project", "runserver", "--port", str(port)]
        env = common.terrapin_env(database_url, token_delay_ms=0)
    else:
        argv = [
            sys.executable, "-m", "uvicorn", f"benchmarks.servers.{name}:create_app",
            "--factory", "--port", str(port), "--log-level", "warning", "--no-access-log",
        ]  # fmt: skip
        env = {"DATABASE_URL": database_url}
    server = common.start_process(name, argv, env, port)
    server.headers = headers
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def proxied(database_url: str, delay_ms: float) -> Iterator[str]:
    """Run the delay proxy in front of PostgreSQL; yield the URL through it."""
    port = common.free_port()
    host_port = database_url.split("@", 1)[1].split("/", 1)[0]
    host, target = host_port.rsplit(":", 1)
    argv = [sys.executable, "-m", "benchmarks.proxy", str(port), host, target, str(delay_ms)]
    proxy = common.start_process("proxy", argv, {}, port)
    try:
        yield common.with_database(database_url, database_url.rsplit("/", 1)[1], port=port)
    finally:
        proxy.stop()


def run_target(target: str, options: argparse.Namespace, rows: list[dict[str, Any]]) -> None:
    dialect = "sqlite" if target == "sqlite" else "postgres"
    with seeded_database(dialect, options.concurrency, options.history) as db:
        url, headers, sessions = db.url, db.headers, db.sessions
        with contextlib.ExitStack() as stack:
            server_url = stack.enter_context(proxied(url, 2.0)) if "+2ms" in target else url
            for name in options.servers:
                if name == "ceiling" and rows and any(r["server"] == "ceiling" for r in rows):
                    continue  # HTTP alone costs the same whatever the database
                with serve(name, server_url, headers) as server:
                    for workload in options.workloads:
                        if workload == "agent_turn" and name != "terrapin":
                            continue
                        result = common.run_load(
                            server,
                            requests_for(workload, sessions, headers),
                            warmup=options.warmup,
                            duration=options.duration,
                            concurrency=options.concurrency,
                        )
                        row = {"target": target, "workload": workload, "server": name, **result}
                        rows.append(row)
                        print(format_row(row), flush=True)


def format_row(row: dict[str, Any]) -> str:
    return (
        f"| {row['target']} | {row['workload']} | {row['server']} | {row['rps']} | "
        f"{row['p50_ms']} | {row['p95_ms']} | {row['p99_ms']} | {row['errors']} |"
    )


def ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Terrapin's rps over each other server's, per target and workload."""
    ceiling = {r["workload"]: r["rps"] for r in rows if r["server"] == "ceiling"}
    out = []
    for row in rows:
        if row["server"] != "terrapin":
            continue
        same = {
            r["server"]: r["rps"]
            for r in rows
            if r["target"] == row["target"] and r["workload"] == row["workload"]
        }
        entry = {"target": row["target"], "workload": row["workload"]}
        for other, rps in [("ceiling", ceiling.get(row["workload"])), *same.items()]:
            if other != "terrapin" and rps:
                entry[f"/{other}"] = round(row["rps"] / rps, 2)
        out.append(entry)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__.split("\n")[0],
        epilog="See also: python -m benchmarks.group_commit --help, "
        "python -m benchmarks.scaling --help (startup/RSS with 1,000,000 sessions, "
        "newest 50 of 100,000 messages, 1,000 concurrent SSE runs).",
    )
    parser.add_argument("--duration", type=float, default=5.0, help="measured seconds per cell")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds per cell")
    parser.add_argument("--concurrency", type=int, default=common.CONCURRENCY)
    parser.add_argument("--history", type=int, default=60, help="messages per seeded session")
    parser.add_argument("--targets", nargs="+", choices=TARGETS, default=TARGETS)
    parser.add_argument("--servers", nargs="+", choices=SERVERS, default=SERVERS)
    parser.add_argument("--workloads", nargs="+", choices=WORKLOADS, default=WORKLOADS)
    options = parser.parse_args(argv)
    targets = list(options.targets)
    if any(t.startswith("postgres") for t in targets) and (reason := common.pg_available()):
        print(f"skipping PostgreSQL targets: {reason}")
        targets = [t for t in targets if t == "sqlite"]
    print(f"machine: {common.machine()}; {options.concurrency} connections, "
          f"{options.warmup}s warm-up + {options.duration}s per cell\n")  # fmt: skip
    print("| target | workload | server | rps | p50 ms | p95 ms | p99 ms | errors |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |")
    rows: list[dict[str, Any]] = []
    for target in targets:
        run_target(target, options, rows)
    summary = ratios(rows)
    print("\n| target | workload | Terrapin/ceiling | Terrapin/floor | Terrapin/old |")
    print("| --- | --- | ---: | ---: | ---: |")
    for entry in summary:
        cells = [str(entry.get(k, "n/a")) for k in ("/ceiling", "/floor", "/old")]
        print(f"| {entry['target']} | {entry['workload']} | " + " | ".join(cells) + " |")
    path = common.write_results(
        "bench",
        {"machine": common.machine(), "options": vars(options), "rows": rows, "ratios": summary},
    )
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
