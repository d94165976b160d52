"""The lineage migration keeps what existing sessions hold and adds what forks need."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from typing import Any

import asyncpg

from core.database.schema import migration_files
from tests.databases import asyncpg_dsn
from tests.migrations.test_migrations import aerich

LINEAGE_VERSION = next(
    name.split("_", 1)[0] for name in migration_files() if name.endswith("_add_session_lineage.py")
)
SESSION = "00000000-0000-4000-8000-000000000001"
UNTOUCHED = "00000000-0000-4000-8000-000000000002"


def _run(url: str, statements: list[str]) -> list[Any]:
    """Run raw statements on either dialect; return the last one's rows."""
    if url.startswith("sqlite://"):
        conn = sqlite3.connect(url.removeprefix("sqlite://"), isolation_level=None)
        try:
            rows: list[Any] = []
            for statement in statements:
                rows = conn.execute(statement).fetchall()
            return rows
        finally:
            conn.close()

    async def on_postgres() -> list[Any]:
        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            result: list[Any] = []
            for statement in statements:
                result = [tuple(row) for row in await conn.fetch(statement)]
            return result
        finally:
            await conn.close()

    return asyncio.run(on_postgres())


def test_written_contexts_get_a_snapshot_at_their_sessions_count(empty_database_url: str) -> None:
    assert aerich(empty_database_url, "upgrade").returncode == 0
    # Back to before the lineage (and the migrations after it).
    down = aerich(empty_database_url, "downgrade", "-v", LINEAGE_VERSION, "--yes")
    assert down.returncode == 0, down.stdout + down.stderr
    stamp = "'2026-01-01 00:00:00+00:00'"
    sessions = ", ".join(
        f"('{sid}', 't', 'default', 'active', '{{}}', {count}, {stamp}, {stamp}, "
        "'00000000-0000-4000-8000-00000000000a')"
        for sid, count in ((SESSION, 7), (UNTOUCHED, 3))
    )
    _run(
        empty_database_url,
        [
            'INSERT INTO "user" (id, username, is_admin, created_at) VALUES '
            f"('00000000-0000-4000-8000-00000000000a', 'old', false, {stamp})",
            "INSERT INTO chat_session (id, title, agent, status, metadata, message_count, "
            f"created_at, updated_at, owner_id) VALUES {sessions}",
            "INSERT INTO agent_context (id, version, data, updated_at, session_id) VALUES "
            f"('00000000-0000-4000-9000-000000000001', 2, '{{\"k\": 1}}', {stamp}, '{SESSION}'), "
            f"('00000000-0000-4000-9000-000000000002', 0, '{{}}', {stamp}, '{UNTOUCHED}')",
        ],
    )

    up = aerich(empty_database_url, "upgrade")

    assert up.returncode == 0, up.stdout + up.stderr
    rows = _run(
        empty_database_url,
        ["SELECT session_id, after_seq, data FROM context_snapshot"],
    )
    assert [(str(sid), seq, json.loads(data)) for sid, seq, data in rows] == [
        (SESSION, 7, {"k": 1})
    ]
    lineage = _run(
        empty_database_url,
        ["SELECT parent_id, forked_at_seq, deleted_at FROM chat_session"],
    )
    assert lineage == [(None, None, None), (None, None, None)]
