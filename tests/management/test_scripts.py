"""The admin scripts under scripts/, run as operators run them."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from models import Approval, ApprovalStatus, ChatSession
from tests.management.conftest import manage
from tests.management.data import orm, seed


async def _state(database_url: str) -> tuple[int, int]:
    async with orm(database_url):
        sessions = await ChatSession.all().count()
        pending = await Approval.filter(status=ApprovalStatus.PENDING).count()
        return sessions, pending


def test_purge_and_expire_change_nothing_on_dry_run(database_url: str) -> None:
    seeded = asyncio.run(seed(database_url))
    purge = manage(database_url, "run", "scripts/purge_sessions.py", "--days", "30", "--dry-run")
    assert purge.returncode == 0, purge.stderr
    assert "would delete 1 session(s)" in purge.stdout
    expire = manage(database_url, "run", "scripts/expire_approvals.py", "--dry-run")
    assert expire.returncode == 0, expire.stderr
    assert "would expire 1 approval(s)" in expire.stdout
    assert asyncio.run(_state(database_url)) == (2, 1)

    assert manage(database_url, "run", "scripts/purge_sessions.py", "--days", "30").returncode == 0
    assert manage(database_url, "run", "scripts/expire_approvals.py", "--yes").returncode == 0
    assert asyncio.run(_state(database_url)) == (1, 0)
    assert asyncio.run(_remaining_session(database_url)) == seeded.session_id


async def _remaining_session(database_url: str) -> str:
    async with orm(database_url):
        return str((await ChatSession.get()).id)


def test_stats_and_export(database_url: str, tmp_path: Path) -> None:
    seeded = asyncio.run(seed(database_url, messages=1200))
    stats = manage(database_url, "run", "scripts/stats.py", "--json")
    assert stats.returncode == 0, stats.stderr
    figures = json.loads(stats.stdout)
    assert figures["sessions"] == {"active": 2}
    assert figures["messages"] == {"complete": 1200}
    assert figures["runs"] == {"waiting_approval": 1}
    assert figures["pending_approvals"] == 1 and figures["oldest_pending_age_seconds"] >= 0
    assert figures["busiest_users"][0] == {"user": "alice", "sessions": 2, "messages": 1200}

    out = tmp_path / "session.json"
    export = manage(
        database_url, "run", "scripts/export_session.py", seeded.session_id, "-o", str(out)
    )
    assert export.returncode == 0, export.stderr
    exported = json.loads(out.read_text())
    assert exported["session"]["title"] == "Zürich ✓"
    assert exported["context"] == {"version": 3, "data": {"k": "v", "n": [1, 2]}}
    assert [m["seq"] for m in exported["messages"]] == list(range(1, 1201))
