"""Seed a migrated database with the benchmark user's sessions and messages (raw SQL, fast)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from benchmarks import common
from benchmarks.common import asyncpg_dsn

CONTENT = "The quick brown fox jumps over the lazy dog."


def _rows(owner: Any, sessions: int, messages: int, pg: bool) -> tuple[list[Any], ...]:
    base = datetime.now(UTC) - timedelta(hours=1)

    def stamp(offset: int) -> Any:
        moment = base + timedelta(milliseconds=offset)
        return moment if pg else moment.isoformat(sep=" ")

    def ident() -> Any:
        return uuid.uuid4() if pg else str(uuid.uuid4())

    session_rows, context_rows, message_rows = [], [], []
    for number in range(sessions):
        sid = ident()
        last = stamp(number * messages + messages)
        session_rows.append(
            (
                sid,
                f"bench {number}",
                "default",
                "active",
                "{}",
                messages,
                stamp(0),
                last,
                last,
                owner,
            )
        )
        context_rows.append((ident(), 0, "{}", stamp(0), sid))
        for seq in range(1, messages + 1):
            at = stamp(number * messages + seq)
            message_rows.append((ident(), seq, "user", CONTENT, "complete", "{}", at, at, sid))
    return session_rows, context_rows, message_rows


SESSION_SQL = (
    "INSERT INTO chat_session (id, title, agent, status, metadata, message_count, created_at, "
    "updated_at, last_message_at, owner_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
)
CONTEXT_SQL = (
    "INSERT INTO agent_context (id, version, data, updated_at, session_id) "
    "VALUES ($1, $2, $3, $4, $5)"
)
MESSAGE_SQL = (
    "INSERT INTO message (id, seq, role, content, status, metadata, created_at, updated_at, "
    "session_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
)


def seed(database_url: str, username: str, sessions: int, messages: int) -> None:
    """Give `username` `sessions` sessions of `messages` messages each."""
    if database_url.startswith("sqlite://"):
        conn = sqlite3.connect(database_url.removeprefix("sqlite://"), isolation_level=None)
        try:
            (owner,) = conn.execute(
                'SELECT id FROM "user" WHERE username = ?', (username,)
            ).fetchone()
            rows = _rows(owner, sessions, messages, pg=False)
            conn.execute("BEGIN")
            for query, batch in zip((SESSION_SQL, CONTEXT_SQL, MESSAGE_SQL), rows, strict=True):
                conn.executemany(query.replace("$", "?"), batch)
            conn.execute("COMMIT")
        finally:
            conn.close()
        return
    asyncio.run(_seed_pg(database_url, username, sessions, messages))


async def _seed_pg(database_url: str, username: str, sessions: int, messages: int) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        owner = await conn.fetchval('SELECT id FROM "user" WHERE username = $1', username)
        rows = _rows(owner, sessions, messages, pg=True)
        async with conn.transaction():
            for query, batch in zip((SESSION_SQL, CONTEXT_SQL, MESSAGE_SQL), rows, strict=True):
                await conn.executemany(query, batch)
    finally:
        await conn.close()


def session_ids(database_url: str, username: str) -> list[str]:
    """The ids of `username`'s sessions."""
    query = (
        'SELECT s.id FROM chat_session s JOIN "user" u ON u.id = s.owner_id WHERE u.username = $1'
    )
    if database_url.startswith("sqlite://"):
        conn = sqlite3.connect(database_url.removeprefix("sqlite://"))
        try:
            return [row[0] for row in conn.execute(query.replace("$1", "?"), (username,))]
        finally:
            conn.close()

    async def fetch() -> list[str]:
        conn = await asyncpg.connect(asyncpg_dsn(database_url))
        try:
            return [str(row[0]) for row in await conn.fetch(query, username)]
        finally:
            await conn.close()

    return asyncio.run(fetch())


@dataclass(frozen=True)
class SeededDatabase:
    """A scratch database as Terrapin migrates it, with the `bench` user's sessions."""

    url: str
    headers: dict[str, str]  # the `bench` user's bearer token
    sessions: list[str]


@contextlib.contextmanager
def seeded_database(dialect: str, sessions: int, messages: int) -> Iterator[SeededDatabase]:
    """Migrate a scratch database, create `bench` and seed its sessions; drop it afterwards."""
    with common.scratch_database(dialect) as url:
        env = common.terrapin_env(url)
        common.manage(["migrate"], env)
        token = common.manage(["createuser", "bench"], env).strip().splitlines()[-1]
        seed(url, "bench", sessions, messages)
        headers = {"Authorization": f"Bearer {token}"}
        yield SeededDatabase(url, headers, session_ids(url, "bench"))
