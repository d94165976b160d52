"""PostgreSQL faults: a dropped connection, a statement past its timeout, a stalled network.

Each is answered 503 database_unavailable with Retry-After (never a 500, never
a request hanging for the whole outage), logged in one line, and the next
request after the fault is served. SQLite has no connection to lose: these
tests run on PostgreSQL only.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager

from project.app import create_app
from tests import databases
from tests.conftest import make_settings
from tests.problems import assert_problem


@pytest.fixture
def pg_url(database_url: str, dialect: str) -> str:
    if dialect != "postgres":
        pytest.skip("PostgreSQL only: an embedded SQLite file has no connection to drop")
    return database_url


@contextlib.asynccontextmanager
async def serving(database_url: str, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The app on `database_url`, a user's token in the client's default headers."""
    app = create_app(make_settings(database_url, **overrides))
    async with LifespanManager(app) as manager:
        issued = await app.state.services.users.create_user(f"faulty-{uuid.uuid4().hex[:8]}")
        transport = httpx.ASGITransport(app=manager.app, raise_app_exceptions=False)
        headers = {"Authorization": f"Bearer {issued.token}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://t", headers=headers
        ) as client:
            assert (await client.post("/api/v1/sessions", json={})).status_code == 201
            yield client


@contextlib.asynccontextmanager
async def table_locked(database_url: str, table: str) -> AsyncIterator[asyncpg.Connection]:
    """Hold an exclusive lock on `table` from another connection (readers block on it)."""
    conn = await asyncpg.connect(databases.asyncpg_dsn(database_url))
    try:
        async with conn.transaction():
            await conn.execute(f'LOCK TABLE "{table}" IN ACCESS EXCLUSIVE MODE')
            yield conn
    finally:
        await conn.close()


async def blocked_backends(database_url: str) -> list[int]:
    """The server processes of this database waiting for a lock."""
    conn = await asyncpg.connect(databases.asyncpg_dsn(databases.pg_admin_url()))
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'",
            urlsplit(database_url).path.lstrip("/"),
        )
    finally:
        await conn.close()
    return [row["pid"] for row in rows]


def assert_unavailable(response: httpx.Response) -> None:
    assert_problem(response, 503, "database_unavailable")
    assert int(response.headers["retry-after"]) > 0


async def test_a_connection_dropped_mid_query_is_503(
    pg_url: str, capfd: pytest.CaptureFixture[str]
) -> None:
    async with serving(pg_url) as client, table_locked(pg_url, "chat_session") as locker:
        pending = asyncio.create_task(client.get("/api/v1/sessions"))
        pids: list[int] = []
        while not pids:
            await asyncio.sleep(0.02)
            pids = await blocked_backends(pg_url)
        await locker.execute("SELECT pg_terminate_backend($1)", pids[0])
        # asyncpg raised AdminShutdownError / ConnectionDoesNotExistError: it was a 500.
        assert_unavailable(await pending)
    async with serving(pg_url) as client:
        assert (await client.get("/api/v1/sessions")).status_code == 200
    log = capfd.readouterr().err
    assert log.count("database unavailable") == 1, log
    assert "Traceback" not in log, log


async def test_a_statement_past_the_timeout_is_503(pg_url: str) -> None:
    async with serving(pg_url, db_statement_timeout_seconds=0.5) as client:
        async with table_locked(pg_url, "chat_session"):
            started = time.monotonic()
            async with asyncio.timeout(10):  # without a statement timeout it waited for good
                response = await client.get("/api/v1/sessions")
            assert_unavailable(response)
            assert time.monotonic() - started < 5
        assert (await client.get("/api/v1/sessions")).status_code == 200


class StallingProxy:
    """A TCP proxy to PostgreSQL that can stop relaying, like a network cut without a reset."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.relaying = asyncio.Event()
        self.relaying.set()
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def close(self) -> None:
        self.relaying.set()
        if self.server is not None:
            self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        await asyncio.gather(
            self._pipe(reader, upstream_writer),
            self._pipe(upstream_reader, writer),
            return_exceptions=True,
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                await self.relaying.wait()  # stalled: bytes are held, nothing is reset
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()


async def test_a_stalled_connection_gives_up_at_the_client_timeout(pg_url: str) -> None:
    parts = urlsplit(pg_url)
    proxy = StallingProxy((parts.hostname or "127.0.0.1", parts.port or 5432))
    port = await proxy.start()
    netloc = parts.netloc.replace(f":{parts.port}", f":{port}")
    proxied = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    try:
        async with serving(proxied, db_statement_timeout_seconds=0.5) as client:
            proxy.relaying.clear()
            started = time.monotonic()
            try:
                async with asyncio.timeout(10):  # without a client timeout it hung for good
                    response = await client.get("/api/v1/sessions")
            finally:
                proxy.relaying.set()
            waited = time.monotonic() - started
            # The request hung for as long as the network did (35 s in the probe).
            assert_unavailable(response)
            assert waited < 5, waited
            assert (await client.get("/api/v1/sessions")).status_code == 200
    finally:
        await proxy.close()
