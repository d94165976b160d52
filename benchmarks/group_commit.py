"""Group commit vs one transaction per append.

`python -m benchmarks.group_commit [--warmup S] [--duration S] [--dialect sqlite|postgres]`

For each dialect and mode, a fresh database is migrated with `python -m
project migrate`, a user is created with `createuser`, and Terrapin is served
with `python -m project runserver`. 64 clients (one session each) then POST
messages as fast as they are answered. The modes differ only in
`TERRAPIN_GROUP_COMMIT_MAX_BATCH`: the default batches, 1 commits every
append in its own transaction, through the same code.
"""

from __future__ import annotations

import argparse
from typing import Any

from benchmarks import common

MODES = {"group commit": {}, "txn per request": {"group_commit_max_batch": 1}}


def append_requests(server: common.Server, sessions: list[str]) -> list[dict[str, Any]]:
    """One append request per session."""
    body = {"role": "user", "content": "The quick brown fox jumps over the lazy dog."}
    return [
        common.json_request("POST", f"/api/v1/sessions/{sid}/messages", server.headers, body)
        for sid in sessions
    ]


def measure(
    dialect: str, settings: dict[str, Any], warmup: float, duration: float
) -> dict[str, Any]:
    """Serve Terrapin on a scratch database and measure appends."""
    with common.scratch_database(dialect) as url, common.terrapin_server(url, **settings) as server:
        sessions = common.create_sessions(server, common.CONCURRENCY)
        return common.run_load(
            server, append_requests(server, sessions), warmup=warmup, duration=duration
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--dialect", choices=["sqlite", "postgres"], action="append")
    options = parser.parse_args(argv)
    dialects = options.dialect or ["sqlite", "postgres"]
    if "postgres" in dialects and (reason := common.pg_available()):
        print(f"skipping PostgreSQL: {reason}")
        dialects.remove("postgres")
    rows = []
    for dialect in dialects:
        results = {}
        for mode, settings in MODES.items():
            results[mode] = measure(dialect, settings, options.warmup, options.duration)
            rows.append({"dialect": dialect, "mode": mode, **results[mode]})
        ratio = results["group commit"]["rps"] / max(results["txn per request"]["rps"], 0.1)
        rows.append({"dialect": dialect, "mode": "ratio (rps)", "rps": round(ratio, 2)})
    print_table(rows)
    path = common.write_results(
        "group_commit", {"machine": common.machine(), "options": vars(options), "rows": rows}
    )
    print(f"\nwrote {path}")
    return 0


def print_table(rows: list[dict[str, Any]]) -> None:
    """Print the results as a Markdown table."""
    print("| dialect | mode | rps | p50 ms | p95 ms | p99 ms | errors |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        if "requests" not in row:
            print(f"| {row['dialect']} | **{row['mode']}** | **{row['rps']}×** | | | | |")
            continue
        print(
            f"| {row['dialect']} | {row['mode']} | {row['rps']} | {row['p50_ms']} | "
            f"{row['p95_ms']} | {row['p99_ms']} | {row['errors']} |"
        )


if __name__ == "__main__":
    raise SystemExit(main())
