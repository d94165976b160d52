"""Floor: the same endpoints on the raw async drivers with hand-written SQL.

Same schema, same bearer-token check on every request, same JSON shapes as
Terrapin; no ORM, no service layer, one transaction per append. This is what
an ORM-based design can approach, not beat.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import aiosqlite
import asyncpg
from fastapi import FastAPI, HTTPException, Request, status

from core.database.postgres import keep_session_state

AUTH_SQL = (
    'SELECT u.id FROM api_token t JOIN "user" u ON u.id = t.user_id '
    "WHERE t.token_hash = $1 AND t.revoked_at IS NULL"
)
SESSION_SQL = (
    "SELECT id, title, agent, status, metadata, message_count, created_at, updated_at, "
    "last_message_at FROM chat_session WHERE id = $1 AND owner_id = $2"
)
MESSAGES_SQL = (
    "SELECT id, session_id, seq, role, content, status, tool_calls, tool_call_id, run_id, "
    "client_message_id, metadata, created_at, updated_at FROM message "
    "WHERE session_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
)
BUMP_SQL = (
    "UPDATE chat_session SET message_count = message_count + 1, updated_at = $1, "
    "last_message_at = $1 WHERE id = $2 AND owner_id = $3 RETURNING message_count"
)
INSERT_SQL = (
    "INSERT INTO message (id, session_id, seq, role, content, status, metadata, created_at, "
    "updated_at) VALUES ($1, $2, $3, $4, $5, 'complete', $6, $7, $7)"
)
MESSAGE_KEYS = MESSAGES_SQL.split("SELECT ")[1].split(" FROM")[0].split(", ")
SESSION_KEYS = SESSION_SQL.split("SELECT ")[1].split(" FROM")[0].split(", ")


def sql(query: str, dialect: str) -> str:
    """PostgreSQL's `$n` placeholders; SQLite spells the same numbered ones `?n`."""
    return re.sub(r"\$(\d+)", r"?\1", query) if dialect == "sqlite" else query


def row_json(keys: list[str], row: Any) -> dict[str, Any]:
    out = {}
    for key, value in zip(keys, row, strict=True):
        if key in {"metadata", "tool_calls"} and isinstance(value, str):
            value = json.loads(value)
        elif isinstance(value, uuid.UUID | datetime):
            value = str(value)
        out[key] = value
    return out


class SqliteStore:
    """One aiosqlite connection; writes serialised by a lock (SQLite has one writer)."""

    dialect = "sqlite"

    async def open(self, url: str) -> None:
        self.db = await aiosqlite.connect(url.removeprefix("sqlite://"), isolation_level=None)
        for pragma in ("journal_mode=WAL", "busy_timeout=15000", "foreign_keys=ON"):
            await self.db.execute(f"PRAGMA {pragma}")
        self.write_lock = asyncio.Lock()

    async def close(self) -> None:
        await self.db.close()

    async def fetch(self, query: str, *args: Any) -> list[Any]:
        return list(await self.db.execute_fetchall(sql(query, "sqlite"), args))

    async def append(self, session_id: str, owner: str, role: str, content: str) -> Any:
        now = datetime.now(UTC).isoformat(sep=" ")
        async with self.write_lock:
            await self.db.execute("BEGIN IMMEDIATE")
            try:
                rows = await self.fetch(BUMP_SQL, now, session_id, owner)
                if not rows:
                    await self.db.execute("ROLLBACK")
                    return None
                message_id = str(uuid.uuid4())
                seq = rows[0][0]
                await self.db.execute(
                    sql(INSERT_SQL, "sqlite"),
                    (message_id, session_id, seq, role, content, "{}", now),
                )
                await self.db.execute("COMMIT")
            except BaseException:
                await self.db.execute("ROLLBACK")
                raise
        return (
            message_id,
            session_id,
            seq,
            role,
            content,
            "complete",
            None,
            None,
            None,
            None,
            "{}",
            now,
            now,
        )


class PostgresStore:
    """An asyncpg pool (10 connections, like Terrapin's default)."""

    dialect = "postgres"

    async def open(self, url: str) -> None:
        dsn = url.replace("postgres://", "postgresql://", 1)
        # Released without asyncpg's reset query, as Terrapin's pool is
        # (project/pg_backend.py): one round trip per query, not two.
        self.pool = await asyncpg.create_pool(
            dsn, min_size=1, max_size=10, reset=keep_session_state
        )

    async def close(self) -> None:
        await self.pool.close()

    async def fetch(self, query: str, *args: Any) -> list[Any]:
        return list(await self.pool.fetch(sql(query, "postgres"), *args))

    async def append(self, session_id: str, owner: str, role: str, content: str) -> Any:
        now = datetime.now(UTC)
        async with self.pool.acquire() as conn, conn.transaction():
            seq = await conn.fetchval(sql(BUMP_SQL, "postgres"), now, uuid.UUID(session_id), owner)
            if seq is None:
                return None
            message_id = uuid.uuid4()
            await conn.execute(
                sql(INSERT_SQL, "postgres"),
                message_id,
                uuid.UUID(session_id),
                seq,
                role,
                content,
                "{}",
                now,
            )
        return (
            message_id,
            session_id,
            seq,
            role,
            content,
            "complete",
            None,
            None,
            None,
            None,
            {},
            now,
            now,
        )


def create_app() -> FastAPI:
    url = os.environ["DATABASE_URL"]
    store: SqliteStore | PostgresStore = (
        SqliteStore() if url.startswith("sqlite") else PostgresStore()
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await store.open(url)
        yield
        await store.close()

    app = FastAPI(lifespan=lifespan)

    async def caller(request: Request) -> Any:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        rows = await store.fetch(AUTH_SQL, hashlib.sha256(token.encode()).hexdigest())
        if not rows:
            raise HTTPException(401)
        return rows[0][0]

    def sid(session_id: uuid.UUID) -> Any:
        return str(session_id) if store.dialect == "sqlite" else session_id

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/api/v1/sessions/{session_id}")
    async def read_session(session_id: uuid.UUID, request: Request) -> dict[str, Any]:
        owner = await caller(request)
        rows = await store.fetch(SESSION_SQL, sid(session_id), owner)
        if not rows:
            raise HTTPException(404)
        return row_json(SESSION_KEYS, rows[0])

    @app.get("/api/v1/sessions/{session_id}/messages")
    async def list_messages(
        session_id: uuid.UUID, request: Request, after_seq: int = 0, limit: int = 50
    ) -> dict[str, Any]:
        owner = await caller(request)
        if not await store.fetch(SESSION_SQL, sid(session_id), owner):
            raise HTTPException(404)
        rows = await store.fetch(MESSAGES_SQL, sid(session_id), after_seq, limit + 1)
        items = [row_json(MESSAGE_KEYS, row) for row in rows[:limit]]
        return {"items": items, "next_cursor": "more" if len(rows) > limit else None}

    @app.post("/api/v1/sessions/{session_id}/messages", status_code=status.HTTP_201_CREATED)
    async def append(session_id: uuid.UUID, request: Request) -> dict[str, Any]:
        owner = await caller(request)
        body = await request.json()
        row = await store.append(str(session_id), owner, body["role"], body["content"])
        if row is None:
            raise HTTPException(404)
        return row_json(MESSAGE_KEYS, row)

    return app
