"""Branches: what a fork costs at any history length, and reading the newest 50 of a deep fork.

`python -m benchmarks.branches [--dialect sqlite|postgres] [--big 100000] [--length 10000]
                               [--depth 10] [--requests 200] [--rounds 7]`

One scratch database per dialect, migrated and given a `bench` user as a
user does it, then seeded by raw SQL: a session of `--big` messages, an
unforked session of `--length` messages, and the roots of two fork chains.
The forks themselves are made through the API; each chain is `--depth`
forks deep, every fork made at its parent's last message, and ends at the
same `--length`:

- spread: every fork adds 5 messages, so the newest 50 cross every level;
- tail: every fork adds 100, so the newest 50 are the deepest fork's own.

Terrapin's app is called in-process (no HTTP, as `benchmarks.inprocess`),
one request after another; rounds alternate between the cases being
compared and the median round (and the best) is reported, as wall time per
request (the database server's work included) and, for reads, also as the
time of `Message.page` alone (the statement, without auth and routing) and
of the agent's history window (`Message.history_window`, 50 messages).

1. newest 50 (`GET /sessions/{id}/messages?before_seq=2147483647&limit=50`)
   of the unforked session vs the deepest fork of each chain, after an
   ANALYZE (as autovacuum would run once the chains exist).
2. fork at seq 100 vs fork at seq `--big` of the `--big` session: wall ms
   per `POST /sessions/{id}/fork`, and the rows one fork adds to the database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from benchmarks import common, eventloop
from benchmarks.inprocess import build_app, call
from benchmarks.seed import CONTENT

NEWEST = "/api/v1/sessions/{}/messages?before_seq=2147483647&limit=50"
CHAINS = {"spread": 5, "tail": 100}  # messages each fork of the chain adds


# --------------------------------------------------------------------------- seeding


def _session_sql(sid: str, count: int, now: str, series: str, message_id: str) -> list[str]:
    """Insert one session of `count` messages; the dialect gives `now`, the series and the ids."""
    context_id = sid.replace("-8000-", "-9000-")
    return [
        "INSERT INTO chat_session (id, title, agent, status, metadata, message_count, created_at, "
        f"updated_at, last_message_at, owner_id) SELECT '{sid}', 'bench', 'default', 'active', "
        f"'{{}}', {count}, {now}, {now}, {now}, id FROM \"user\" WHERE username = 'bench'",
        "INSERT INTO agent_context (id, version, data, updated_at, session_id) "
        f"VALUES ('{context_id}', 0, '{{}}', {now}, '{sid}')",
        "INSERT INTO message (id, seq, role, content, status, metadata, created_at, updated_at, "
        f"session_id) SELECT {message_id}, i, CASE i % 2 WHEN 1 THEN 'user' ELSE 'assistant' "
        f"END, '{CONTENT}', 'complete', '{{}}', {now}, {now}, '{sid}' FROM {series}",
    ]


def _seed(url: str, sessions: dict[str, int]) -> None:
    """Insert the sessions (id -> message count) in one transaction, then ANALYZE."""
    if url.startswith("sqlite://"):
        conn = sqlite3.connect(url.removeprefix("sqlite://"), isolation_level=None)
        try:
            conn.execute("BEGIN")
            for number, (sid, count) in enumerate(sessions.items()):
                for sql in _session_sql(
                    sid,
                    count,
                    now="strftime('%Y-%m-%d %H:%M:%f+00:00', 'now')",
                    series=(
                        "(WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                        f"WHERE i < {count}) SELECT i FROM n)"
                    ),
                    message_id=f"printf('00000000-0000-4000-b{number:03d}-%012d', i)",
                ):
                    conn.execute(sql)
            conn.execute("COMMIT")
            conn.execute("ANALYZE")
        finally:
            conn.close()
        return

    async def seed_pg() -> None:
        conn = await asyncpg.connect(common.asyncpg_dsn(url))
        try:
            async with conn.transaction():
                for number, (sid, count) in enumerate(sessions.items()):
                    for sql in _session_sql(
                        sid,
                        count,
                        now="now()",
                        series=f"generate_series(1, {count}) AS i",
                        message_id=(
                            f"('00000000-0000-4000-b{number:03d}-' || lpad(i::text, 12, '0'))::uuid"
                        ),
                    ):
                        await conn.execute(sql)
            await conn.execute("ANALYZE")
        finally:
            await conn.close()

    asyncio.run(seed_pg())


async def _row_count(url: str) -> int:
    """Rows in the tables a fork writes to."""
    tables = ("chat_session", "message", "agent_context", "context_snapshot")
    query = "SELECT " + " + ".join(f"(SELECT COUNT(*) FROM {table})" for table in tables)
    if url.startswith("sqlite://"):
        return await asyncio.to_thread(_sqlite_value, url.removeprefix("sqlite://"), query)
    conn = await asyncpg.connect(common.asyncpg_dsn(url))
    try:
        return int(await conn.fetchval(query))
    finally:
        await conn.close()


async def _analyze(url: str) -> None:
    """Refresh the planner's statistics."""
    if url.startswith("sqlite://"):
        await asyncio.to_thread(_sqlite_value, url.removeprefix("sqlite://"), "ANALYZE")
        return
    conn = await asyncpg.connect(common.asyncpg_dsn(url))
    try:
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


def _sqlite_value(path: str, query: str) -> int:
    """The first column of the query's first row (0 for a statement without rows)."""
    conn = sqlite3.connect(path)
    try:
        row = conn.execute(query).fetchone()
        return int(row[0]) if row else 0
    finally:
        conn.close()


# --------------------------------------------------------------------------- measuring


class Bench:
    """Terrapin's app, started in this process, and the bench user's requests to it."""

    def __init__(self, app: Any, state: dict[str, Any], headers: dict[str, str]) -> None:
        self.app, self.state, self.headers = app, state, headers

    async def send(self, method: str, path: str, body: Any = None) -> int:
        """One request; its status."""
        return await call(
            self.app, self.state, common.json_request(method, path, self.headers, body)
        )

    async def json(self, method: str, path: str, body: Any = None) -> Any:
        """One request that must succeed; its JSON answer."""
        chunks: list[bytes] = []

        async def keeping_the_body(scope: Any, receive: Any, send: Any) -> None:
            async def keep(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.body":
                    chunks.append(message.get("body", b""))
                await send(message)

            await self.app(scope, receive, keep)

        spec = common.json_request(method, path, self.headers, body)
        status = await call(keeping_the_body, self.state, spec)
        if not 200 <= status < 300:
            raise RuntimeError(f"{method} {path} answered {status}: {b''.join(chunks)!r}")
        return json.loads(b"".join(chunks))


async def _rounds(
    cases: dict[str, Callable[[], Awaitable[None]]], requests: int, rounds: int
) -> dict[str, list[float]]:
    """Wall milliseconds per call of each case, per round; cases alternate within a round."""
    for case in cases.values():  # warm-up: prepared statements, caches
        for _ in range(min(requests, 20)):
            await case()
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, case in cases.items():
            started = time.perf_counter()
            for _ in range(requests):
                await case()
            times[name].append((time.perf_counter() - started) / requests * 1000)
    return times


async def _build_chain(bench: Bench, root: str, depth: int, own: int) -> str:
    """Fork `root` `depth` times, each fork at its parent's end with `own` messages; the last."""
    current, count = root, await _count(bench, root)
    for _ in range(depth):
        fork = await bench.json("POST", f"/api/v1/sessions/{current}/fork", {"at_seq": count})
        current = fork["id"]
        for number in range(own):
            role = "user" if number % 2 == 0 else "assistant"
            body = {"role": role, "content": CONTENT}
            await bench.json("POST", f"/api/v1/sessions/{current}/messages", body)
        count += own
    return current


async def _count(bench: Bench, sid: str) -> int:
    return int((await bench.json("GET", f"/api/v1/sessions/{sid}"))["message_count"])


async def measure(url: str, headers: dict[str, str], ids: dict[str, str], options: Any) -> Any:
    """Every figure, in one started app."""
    app = build_app("terrapin", url)
    async with app.router.lifespan_context(app) as state:
        bench = Bench(app, dict(state or {}), headers)
        services = app.state.services
        from models import ChatSession, Message

        chains = {
            name: await _build_chain(bench, ids[name], options.depth, own)
            for name, own in CHAINS.items()
        }
        sessions = {"unforked": ids["flat"], **chains}
        for sid in sessions.values():
            assert await _count(bench, sid) == options.length, sid
        newest = [
            m["seq"] for m in (await bench.json("GET", NEWEST.format(chains["spread"])))["items"]
        ]
        assert newest == list(range(options.length - 49, options.length + 1)), newest

        fork_path = f"/api/v1/sessions/{ids['big']}/fork"

        def fork_at(seq: int) -> Callable[[], Awaitable[None]]:
            async def fork() -> None:
                if await bench.send("POST", fork_path, {"at_seq": seq}) != 201:
                    raise RuntimeError(f"fork at {seq} failed")

            return fork

        def read_newest(sid: str) -> Callable[[], Awaitable[None]]:
            async def read() -> None:
                if await bench.send("GET", NEWEST.format(sid)) != 200:
                    raise RuntimeError(f"newest 50 of {sid} failed")

            return read

        rows: dict[str, ChatSession] = {
            name: await ChatSession.get(id=sid) for name, sid in sessions.items()
        }

        def page_newest(name: str) -> Callable[[], Awaitable[None]]:
            async def page() -> None:
                await Message.page(services.database, rows[name], "before", 2**31 - 1, 51)

            return page

        run_id = uuid.uuid4()  # no such run: nothing is queued behind it

        def window(name: str) -> Callable[[], Awaitable[None]]:
            async def read() -> None:
                turns = await Message.history_window(services.database, rows[name].id, run_id, 50)
                if len(turns) != 50:
                    raise RuntimeError(f"the window of {name} holds {len(turns)} messages")

            return read

        # Statistics as autovacuum would have them once the chains exist: the
        # planners choose by table sizes, which the seeding's ANALYZE predates.
        await _analyze(url)
        reads = await _rounds(
            {f"GET newest 50: {name}": read_newest(sid) for name, sid in sessions.items()},
            options.requests,
            options.rounds,
        )
        pages = await _rounds(
            {f"Message.page newest 50: {name}": page_newest(name) for name in sessions},
            options.requests,
            options.rounds,
        )
        windows = await _rounds(
            {f"Message.history_window of 50: {name}": window(name) for name in sessions},
            options.requests,
            options.rounds,
        )
        before = await _row_count(url)
        await fork_at(100)()
        written = await _row_count(url) - before
        fork_requests = max(options.requests // 4, 10)
        forks = await _rounds(
            {"fork at 100": fork_at(100), f"fork at {options.big}": fork_at(options.big)},
            fork_requests,
            options.rounds,
        )
    return written, {**forks, **reads, **pages, **windows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dialect", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--big", type=int, default=100_000, help="messages of the forked session")
    parser.add_argument("--length", type=int, default=10_000, help="history of the read cases")
    parser.add_argument("--depth", type=int, default=10, help="forks in each chain")
    parser.add_argument("--requests", type=int, default=200, help="reads per round and case")
    parser.add_argument("--rounds", type=int, default=7)
    options = parser.parse_args()
    if options.dialect == "postgres" and (reason := common.pg_available()):
        raise SystemExit(f"PostgreSQL not reachable: {reason}")
    ids = {
        "big": "00000000-0000-4000-8000-00000000000b",
        "flat": "00000000-0000-4000-8000-00000000000f",
        "spread": "00000000-0000-4000-8000-00000000000a",
        "tail": "00000000-0000-4000-8000-00000000000c",
    }
    counts = {
        "big": options.big,
        "flat": options.length,
        **{name: options.length - options.depth * own for name, own in CHAINS.items()},
    }
    print(f"machine: {common.machine()}; {options.dialect}; {options.rounds} rounds")
    with common.scratch_database(options.dialect) as url:
        env = common.terrapin_env(url)
        common.manage(["migrate"], env)
        token = common.manage(["createuser", "bench"], env).strip().splitlines()[-1]
        _seed(url, {ids[name]: count for name, count in counts.items()})
        headers = {"Authorization": f"Bearer {token}"}
        written, times = eventloop.run(measure(url, headers, ids, options))
    print(f"\nrows one fork writes: {written}\n")
    print("| case | median ms | vs first of its group | best round ms | vs first |")
    print("| --- | ---: | ---: | ---: | ---: |")
    firsts: dict[str, tuple[float, float]] = {}
    for name, values in times.items():
        median, best = statistics.median(values), min(values)
        group = name.split(":")[0] if ":" in name else "fork"
        first_median, first_best = firsts.setdefault(group, (median, best))
        print(
            f"| {options.dialect} {name} | {median:.3f} | {median / first_median:.2f}× "
            f"| {best:.3f} | {best / first_best:.2f}× |"
        )
    path = common.write_results(
        f"branches-{options.dialect}",
        {"machine": common.machine(), "options": vars(options), "rows": written, "rounds": times},
    )
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
