"""Scaling runs: does cost grow with history, with the number of sessions, with concurrent runs?

`python -m benchmarks.scaling [--sessions 1000000] [--runs 1000] [--dialect sqlite|postgres]`

Per dialect, on one scratch database, with real `python -m project` processes:

1. startup: process start -> GET /readyz 200, and VmRSS right then, of
   `runserver` on the empty database (after migrate + createuser), then again
   after raw-SQL seeding of `--sessions` sessions (with their agent context
   rows) for one user. Median of `--repeat` starts each.
2. newest 50: GET /sessions/{id}/messages?before_seq=<count+1>&limit=50 on a
   100-message and a `--big-history`-message session: `--requests` sequential
   requests (interleaved small/big, keep-alive), then `--load-rounds`
   alternating rounds of `--load-duration` s of the load generator with
   `--load-concurrency` connections on the session (median per figure).
3. SSE: `--runs` sessions created over HTTP, then `benchmarks/sse_load.py`
   starts one agent turn on each at once (TERRAPIN_TOKEN_DELAY_MS=0) and
   reads every stream to `done`.

See benchmarks/README.md ("Scaling runs") for what each figure means.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

import asyncpg
import httpx

from benchmarks import common
from benchmarks.loadgen import percentile
from benchmarks.seed import CONTENT

SMALL_ID = "00000000-0000-4000-a000-000000000001"
BIG_ID = "00000000-0000-4000-a000-000000000002"


# --------------------------------------------------------------------------- seeding


def _sqlite_seed(path: str, owner_sql: str, sessions: int, histories: dict[str, int]) -> None:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S.000000+00:00", time.gmtime())
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous=OFF")
        (owner,) = conn.execute(owner_sql).fetchone()
        conn.execute("BEGIN")
        numbers = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
        conn.execute(
            "INSERT INTO chat_session (id, title, agent, status, metadata, message_count, "
            "created_at, updated_at, last_message_at, owner_id) "
            + numbers
            + "SELECT printf('00000000-0000-4000-8000-%012d', i), 'bench ' || i, 'default', "
            "'active', '{}', 0, ?, ?, NULL, ? FROM n",
            (sessions, stamp, stamp, owner),
        )
        conn.execute(
            "INSERT INTO agent_context (id, version, data, updated_at, session_id) "
            + numbers
            + "SELECT printf('00000000-0000-4000-9000-%012d', i), 0, '{}', ?, "
            "printf('00000000-0000-4000-8000-%012d', i) FROM n",
            (sessions, stamp),
        )
        for number, (sid, count) in enumerate(histories.items()):
            conn.execute(
                "INSERT INTO chat_session (id, title, agent, status, metadata, message_count, "
                "created_at, updated_at, last_message_at, owner_id) "
                "VALUES (?, ?, 'default', 'active', '{}', ?, ?, ?, ?, ?)",
                (sid, f"history {count}", count, stamp, stamp, stamp, owner),
            )
            conn.execute(
                "INSERT INTO agent_context (id, version, data, updated_at, session_id) "
                "VALUES (?, 0, '{}', ?, ?)",
                (f"00000000-0000-4000-a100-{number:012d}", stamp, sid),
            )
            conn.execute(
                "INSERT INTO message (id, seq, role, content, status, metadata, created_at, "
                "updated_at, session_id) "
                + numbers
                + f"SELECT printf('00000000-0000-4000-b{number:03d}-%012d', i), i, "
                "CASE i % 2 WHEN 1 THEN 'user' ELSE 'assistant' END, ?, 'complete', '{}', "
                "?, ?, ? FROM n",
                (count, CONTENT, stamp, stamp, sid),
            )
        conn.execute("COMMIT")
    finally:
        conn.close()


async def _pg_seed(url: str, owner_sql: str, sessions: int, histories: dict[str, int]) -> None:
    conn = await asyncpg.connect(common.asyncpg_dsn(url))
    try:
        await conn.execute("SET synchronous_commit = off")
        owner = str(await conn.fetchval(owner_sql))
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO chat_session (id, title, agent, status, metadata, message_count, "
                "created_at, updated_at, last_message_at, owner_id) "
                "SELECT ('00000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid, "
                f"'bench ' || i, 'default', 'active', '{{}}', 0, now(), now(), NULL, '{owner}' "
                f"FROM generate_series(1, {int(sessions)}) AS i"
            )
            await conn.execute(
                "INSERT INTO agent_context (id, version, data, updated_at, session_id) "
                "SELECT ('00000000-0000-4000-9000-' || lpad(i::text, 12, '0'))::uuid, 0, '{}', "
                "now(), ('00000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid "
                f"FROM generate_series(1, {int(sessions)}) AS i"
            )
            for number, (sid, count) in enumerate(histories.items()):
                await conn.execute(
                    "INSERT INTO chat_session (id, title, agent, status, metadata, "
                    "message_count, created_at, updated_at, last_message_at, owner_id) "
                    f"VALUES ('{sid}', 'history {count}', 'default', 'active', '{{}}', "
                    f"{count}, now(), now(), now(), '{owner}')"
                )
                await conn.execute(
                    "INSERT INTO agent_context (id, version, data, updated_at, session_id) "
                    f"VALUES ('00000000-0000-4000-a100-{number:012d}', 0, '{{}}', now(), "
                    f"'{sid}')"
                )
                await conn.execute(
                    "INSERT INTO message (id, seq, role, content, status, metadata, "
                    "created_at, updated_at, session_id) "
                    f"SELECT ('00000000-0000-4000-b{number:03d}-' || lpad(i::text, 12, '0'))"
                    "::uuid, i, CASE i % 2 WHEN 1 THEN 'user' ELSE 'assistant' END, $1, "
                    f"'complete', '{{}}', now(), now(), '{sid}' "
                    f"FROM generate_series(1, {int(count)}) AS i",
                    CONTENT,
                )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


def seed_big(url: str, sessions: int, histories: dict[str, int]) -> float:
    """Seed `sessions` empty sessions plus the history sessions; return seconds taken."""
    owner_sql = "SELECT id FROM \"user\" WHERE username = 'bench'"
    started = time.perf_counter()
    if url.startswith("sqlite://"):
        _sqlite_seed(url.removeprefix("sqlite://"), owner_sql, sessions, histories)
    else:
        asyncio.run(_pg_seed(url, owner_sql, sessions, histories))
    return time.perf_counter() - started


# --------------------------------------------------------------------------- measurements


def rss_mb(pid: int) -> float:
    """VmRSS of `pid` in MiB."""
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def start_server(env: dict[str, str]) -> tuple[common.Server, float, float]:
    """Start runserver; return (server, seconds to /readyz 200, RSS MiB at that moment)."""
    port = common.free_port()
    argv = [sys.executable, "-m", "project", "runserver", "--port", str(port)]
    started = time.perf_counter()
    server = common.start_process("terrapin", argv, env, port)
    deadline = started + 300
    with httpx.Client(timeout=5) as http:
        while time.perf_counter() < deadline and server.process.poll() is None:
            try:
                if http.get(server.base_url + "/readyz").status_code == 200:
                    elapsed = time.perf_counter() - started
                    return server, elapsed, rss_mb(server.process.pid)
            except httpx.HTTPError:
                pass
            time.sleep(0.01)
    server.stop()
    raise RuntimeError(f"runserver did not become ready:\n{server.log_path.read_text()}")


def measure_startup(env: dict[str, str], repeat: int) -> dict[str, Any]:
    """Median startup seconds and RSS over `repeat` starts."""
    times, rss = [], []
    for _ in range(repeat):
        server, seconds, mib = start_server(env)
        server.stop()
        times.append(seconds)
        rss.append(mib)
    return {
        "startup_s": round(statistics.median(times), 3),
        "rss_mib": round(statistics.median(rss), 1),
        "startup_all_s": [round(t, 3) for t in times],
        "rss_all_mib": rss,
    }


def newest_path(session_id: str, count: int) -> str:
    return f"/api/v1/sessions/{session_id}/messages?before_seq={count + 1}&limit=50"


def measure_newest(
    server: common.Server, histories: dict[str, int], options: argparse.Namespace
) -> dict[str, Any]:
    """Sequential then concurrent latency of the newest-50 page per history size."""
    latencies: dict[str, list[float]] = {sid: [] for sid in histories}
    with httpx.Client(base_url=server.base_url, headers=server.headers, timeout=30) as http:
        for round_number in range(options.requests + 10):
            for sid, count in histories.items():
                started = time.perf_counter()
                response = http.get(newest_path(sid, count))
                elapsed = time.perf_counter() - started
                response.raise_for_status()
                items = response.json()["items"]
                seqs = sorted(item["seq"] for item in items)
                if seqs != list(range(count - 49, count + 1)):
                    raise RuntimeError(f"wrong page for {count} messages: {seqs[:3]}..")
                if round_number >= 10:
                    latencies[sid].append(elapsed * 1000)
    loads: dict[str, list[dict[str, Any]]] = {sid: [] for sid in histories}
    for _ in range(options.load_rounds):  # alternate small/big so drift hits both alike
        for sid, count in histories.items():
            request = common.json_request("GET", newest_path(sid, count), server.headers)
            loads[sid].append(
                common.run_load(
                    server,
                    [request],
                    warmup=1.0,
                    duration=options.load_duration,
                    concurrency=options.load_concurrency,
                )
            )
    out = {}
    for sid, count in histories.items():
        ms = sorted(latencies[sid])
        rounds = loads[sid]
        load = {
            key: round(statistics.median(r[key] for r in rounds), 2)
            for key in ("rps", "p50_ms", "p95_ms", "p99_ms")
        }
        load["errors"] = sum(r["errors"] for r in rounds)
        out[str(count)] = {
            "seq_p50_ms": round(percentile(ms, 50), 2),
            "seq_p95_ms": round(percentile(ms, 95), 2),
            "load": load,
            "load_rounds": rounds,
        }
    return out


def measure_sse(server: common.Server, runs: int, timeout: float) -> dict[str, Any]:
    """Create `runs` sessions, then run one turn on each at once in the SSE load process."""
    started = time.perf_counter()
    sessions = common.create_sessions(server, runs)
    created = time.perf_counter() - started
    spec = {
        "host": "127.0.0.1",
        "port": server.port,
        "headers": server.headers,
        "sessions": sessions,
        "timeout": timeout,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(spec, handle)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.sse_load", handle.name],
            cwd=common.REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=timeout + 120,
            check=True,
        )
    finally:
        os.unlink(handle.name)
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["create_sessions_s"] = round(created, 1)
    return result


# --------------------------------------------------------------------------- driver


def run_dialect(dialect: str, options: argparse.Namespace) -> dict[str, Any]:
    histories = {SMALL_ID: 100, BIG_ID: options.big_history}
    out: dict[str, Any] = {"dialect": dialect}
    with common.scratch_database(dialect) as url:
        env = common.terrapin_env(url, token_delay_ms=0)
        common.manage(["migrate"], env)
        token = common.manage(["createuser", "bench"], env).strip().splitlines()[-1]
        headers = {"Authorization": f"Bearer {token}"}
        out["startup_empty"] = measure_startup(env, options.repeat)
        print(f"[{dialect}] empty: {out['startup_empty']}", flush=True)
        out["seed_s"] = round(seed_big(url, options.sessions, histories), 1)
        print(f"[{dialect}] seeded {options.sessions} sessions in {out['seed_s']} s", flush=True)
        out["startup_big"] = measure_startup(env, options.repeat)
        print(f"[{dialect}] big: {out['startup_big']}", flush=True)
        server, _, _ = start_server(env)
        server.headers = headers
        try:
            out["newest"] = measure_newest(server, histories, options)
            print(f"[{dialect}] newest-50: {json.dumps(out['newest'])}", flush=True)
            if options.runs:
                out["sse"] = measure_sse(server, options.runs, options.sse_timeout)
                print(f"[{dialect}] sse: {json.dumps(out['sse'])}", flush=True)
            out["rss_after_mib"] = rss_mb(server.process.pid)
        finally:
            server.stop()
    return out


def verdict(ok: bool) -> str:
    return "yes" if ok else "**no**"


def table(results: list[dict[str, Any]], options: argparse.Namespace) -> list[str]:
    """Markdown table rows: one line per figure per dialect."""
    lines = [
        "| dialect | figure | small | big | big/small | target | met |",
        "| --- | --- | ---: | ---: | ---: | --- | --- |",
    ]

    def ratio_row(dialect: str, figure: str, small: float, big: float) -> None:
        ratio = big / small if small else float("inf")
        lines.append(
            f"| {dialect} | {figure} | {small} | {big} | {ratio:.2f}× | ≤ 1.5× | "
            f"{verdict(ratio <= 1.5)} |"
        )

    for res in results:
        d = res["dialect"]
        empty, big = res["startup_empty"], res["startup_big"]
        ratio_row(d, f"startup s (0 vs {options.sessions:,} sessions)", *(
            x["startup_s"] for x in (empty, big)
        ))  # fmt: skip
        ratio_row(d, "RSS MiB at ready", empty["rss_mib"], big["rss_mib"])
        small, large = res["newest"]["100"], res["newest"][str(options.big_history)]
        label = f"newest 50, 100 vs {options.big_history:,} msgs"
        ratio_row(d, f"{label}: sequential p50 ms", small["seq_p50_ms"], large["seq_p50_ms"])
        ratio_row(d, f"{label}: sequential p95 ms", small["seq_p95_ms"], large["seq_p95_ms"])
        conc = options.load_concurrency
        for key in ("p50_ms", "p95_ms"):
            ratio_row(d, f"{label}: {conc} conns {key}", small["load"][key], large["load"][key])
        lines.append(
            f"| {d} | {label}: {conc} conns rps | {small['load']['rps']} | "
            f"{large['load']['rps']} | {large['load']['rps'] / max(small['load']['rps'], 0.1):.2f}×"
            " | | |"
        )
        sse = res.get("sse")
        if sse:
            runs = sse["runs"]
            lines.append(
                f"| {d} | SSE runs complete + consistent | | {sse['complete']}/{runs} | | "
                f"all | {verdict(sse['complete'] == runs)} |"
            )
            problems = ", ".join(f"{k}: {v}" for k, v in sse["problems"].items()) or "none"
            recovered = sse.get("no_terminal_runs_whose_terminal_a_reconnect_got", 0)
            lines.append(
                f"| {d} | SSE problems ({problems}; terminal event got on reconnect: "
                f"{recovered}) | | | | none | {verdict(not sse['problems'])} |"
            )
            lines.append(
                f"| {d} | SSE event gap p95 ms (p50 {sse['gap']['p50_ms']}) | | "
                f"{sse['gap']['p95_ms']} | | < 100 | {verdict(sse['gap']['p95_ms'] < 100)} |"
            )
            lines.append(
                f"| {d} | SSE since request start p95 ms (first event p95 "
                f"{sse['first_event']['p95_ms']}) | | {sse['since_start']['p95_ms']} | | | |"
            )
            lines.append(
                f"| {d} | SSE wall s for {runs} runs ({sse['events']} events) | | "
                f"{sse['wall_s']} | | | |"
            )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.scaling", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--sessions", type=int, default=1_000_000, help="sessions seeded for the big startup"
    )
    parser.add_argument("--big-history", type=int, default=100_000, help="messages, big session")
    parser.add_argument("--requests", type=int, default=200, help="sequential newest-50 GETs")
    parser.add_argument("--load-concurrency", type=int, default=16)
    parser.add_argument("--load-duration", type=float, default=4.0, help="seconds per round")
    parser.add_argument(
        "--load-rounds", type=int, default=3, help="alternating rounds (median reported)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="starts per startup figure")
    parser.add_argument("--runs", type=int, default=1000, help="concurrent SSE runs (0: skip)")
    parser.add_argument("--sse-timeout", type=float, default=600.0, help="seconds per SSE run")
    parser.add_argument("--dialect", choices=["sqlite", "postgres"], action="append")
    options = parser.parse_args(argv)
    dialects = options.dialect or ["sqlite", "postgres"]
    if "postgres" in dialects and (reason := common.pg_available()):
        print(f"skipping PostgreSQL: {reason}")
        dialects.remove("postgres")
    print(f"machine: {common.machine()}", flush=True)
    results = [run_dialect(dialect, options) for dialect in dialects]
    print()
    print("\n".join(table(results, options)))
    path = common.write_results(
        "scaling", {"machine": common.machine(), "options": vars(options), "results": results}
    )
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
