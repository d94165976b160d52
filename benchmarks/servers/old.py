"""Old design: what Terrapin replaces, rebuilt for comparison.

Sync database calls inside async handlers (the token check runs a blocking
query on the event loop), every session and its messages loaded into memory
at startup, reads answered from memory, appends kept in memory and written
back every 5 seconds by a blocking flush. A crash loses up to 5 s of
acknowledged appends: the durability Terrapin's group commit provides is
simply absent here.

SQLite uses the stdlib `sqlite3`. No sync PostgreSQL driver is installed, so
`BlockingPg` runs asyncpg on a private loop thread and makes every call wait
for its result, which blocks the server's loop exactly as psycopg2 would.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import sqlite3
import threading
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime
from typing import Any

import asyncpg
from fastapi import FastAPI, HTTPException, Request, status

FLUSH_SECONDS = 5.0


class BlockingSqlite:
    def __init__(self, url: str) -> None:
        self.conn = sqlite3.connect(
            url.removeprefix("sqlite://"), isolation_level=None, check_same_thread=False
        )
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA busy_timeout=15000")

    def fetch(self, query: str, *args: Any) -> list[Any]:
        return self.conn.execute(re.sub(r"\$(\d+)", r"?\1", query), args).fetchall()

    def write_many(self, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        for query, args in statements:
            self.conn.execute(re.sub(r"\$(\d+)", r"?\1", query), args)
        self.conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()


class BlockingPg:
    """A synchronous PostgreSQL client: asyncpg on its own thread, callers wait."""

    def __init__(self, url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        dsn = url.replace("postgres://", "postgresql://", 1)
        self.conn: asyncpg.Connection = self._wait(asyncpg.connect(dsn))

    def _wait(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def fetch(self, query: str, *args: Any) -> list[Any]:
        return list(self._wait(self.conn.fetch(query, *args)))

    def write_many(self, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
        async def go() -> None:
            async with self.conn.transaction():
                for query, args in statements:
                    await self.conn.execute(query, *args)

        self._wait(go())

    def close(self) -> None:
        self._wait(self.conn.close())
        self.loop.call_soon_threadsafe(self.loop.stop)


class Memory:
    """Every session and message, keyed by session id; dirty ones are flushed later."""

    def __init__(self, db: BlockingSqlite | BlockingPg) -> None:
        self.db = db
        self.sessions: dict[str, dict[str, Any]] = {}
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.pending: list[tuple[str, tuple[Any, ...]]] = []

    def load(self) -> None:
        for row in self.db.fetch(
            "SELECT id, owner_id, title, agent, status, metadata, message_count, created_at, "
            "updated_at, last_message_at FROM chat_session"
        ):
            keys = [
                "id",
                "owner_id",
                "title",
                "agent",
                "status",
                "metadata",
                "message_count",
                "created_at",
                "updated_at",
                "last_message_at",
            ]
            session = {k: _plain(v) for k, v in zip(keys, row, strict=True)}
            self.sessions[session["id"]] = session
            self.messages[session["id"]] = []
        for row in self.db.fetch(
            "SELECT id, session_id, seq, role, content, status, metadata, created_at "
            "FROM message ORDER BY session_id, seq"
        ):
            keys = [
                "id",
                "session_id",
                "seq",
                "role",
                "content",
                "status",
                "metadata",
                "created_at",
            ]
            message = {k: _plain(v) for k, v in zip(keys, row, strict=True)}
            self.messages[message["session_id"]].append(message)

    def append(self, session: dict[str, Any], role: str, content: str) -> dict[str, Any]:
        now = datetime.now(UTC)
        session["message_count"] += 1
        session["updated_at"] = session["last_message_at"] = now.isoformat()
        message = {
            "id": str(uuid.uuid4()),
            "session_id": session["id"],
            "seq": session["message_count"],
            "role": role,
            "content": content,
            "status": "complete",
            "metadata": {},
            "created_at": now.isoformat(),
        }
        self.messages[session["id"]].append(message)
        pg = isinstance(self.db, BlockingPg)
        ident = uuid.UUID if pg else str
        stamp: Any = now if pg else now.isoformat(sep=" ")
        self.pending.append(
            (
                "INSERT INTO message (id, session_id, seq, role, content, status, metadata, "
                "created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'complete', '{}', $6, $6)",
                (ident(message["id"]), ident(session["id"]), message["seq"], role, content, stamp),
            )
        )
        self.pending.append(
            (
                "UPDATE chat_session SET message_count = $1, updated_at = $2, last_message_at = $2 "
                "WHERE id = $3",
                (session["message_count"], stamp, ident(session["id"])),
            )
        )
        return message

    def flush(self) -> None:
        """Write pending appends back (blocking, on the event loop, as the old code did)."""
        batch, self.pending = self.pending, []
        if batch:
            self.db.write_many(batch)


def _plain(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str) and value[:1] in "{[":
        with suppress(ValueError):
            return json.loads(value)
    return value


def create_app() -> FastAPI:
    url = os.environ["DATABASE_URL"]
    state: dict[str, Memory] = {}

    async def flusher(memory: Memory) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            memory.flush()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = BlockingSqlite(url) if url.startswith("sqlite") else BlockingPg(url)
        memory = state["memory"] = Memory(db)
        memory.load()
        task = asyncio.create_task(flusher(memory))
        yield
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
        memory.flush()
        db.close()

    app = FastAPI(lifespan=lifespan)

    def session_for(request: Request, session_id: uuid.UUID) -> dict[str, Any]:
        memory = state["memory"]
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        rows = memory.db.fetch(  # the blocking call on the event loop
            'SELECT u.id FROM api_token t JOIN "user" u ON u.id = t.user_id '
            "WHERE t.token_hash = $1 AND t.revoked_at IS NULL",
            hashlib.sha256(token.encode()).hexdigest(),
        )
        if not rows:
            raise HTTPException(401)
        session = memory.sessions.get(str(session_id))
        if session is None or session["owner_id"] != str(rows[0][0]):
            raise HTTPException(404)
        return session

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/api/v1/sessions/{session_id}")
    async def read_session(session_id: uuid.UUID, request: Request) -> dict[str, Any]:
        session = session_for(request, session_id)
        return {k: v for k, v in session.items() if k != "owner_id"}

    @app.get("/api/v1/sessions/{session_id}/messages")
    async def list_messages(
        session_id: uuid.UUID, request: Request, after_seq: int = 0, limit: int = 50
    ) -> dict[str, Any]:
        session = session_for(request, session_id)
        history = state["memory"].messages[session["id"]]
        items = [m for m in history if m["seq"] > after_seq][: limit + 1]
        return {"items": items[:limit], "next_cursor": "more" if len(items) > limit else None}

    @app.post("/api/v1/sessions/{session_id}/messages", status_code=status.HTTP_201_CREATED)
    async def append(session_id: uuid.UUID, request: Request) -> dict[str, Any]:
        session = session_for(request, session_id)
        body = await request.json()
        return state["memory"].append(session, body["role"], body["content"])

    return app
