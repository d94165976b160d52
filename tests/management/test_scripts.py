"""The admin scripts under scripts/, run as operators run them."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

from core.clock import utcnow
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


async def _age(database_url: str, session_id: str) -> None:
    async with orm(database_url):
        await ChatSession.filter(id=session_id).update(updated_at=utcnow() - timedelta(days=100))


async def _lineage_state(database_url: str) -> dict[str, tuple[bool, bool]]:
    """Title -> (row kept, marked deleted), for every session row."""
    async with orm(database_url):
        rows = await ChatSession.all().values("title", "deleted_at")
        return {row["title"]: (True, row["deleted_at"] is not None) for row in rows}


def test_purge_keeps_a_session_its_forks_read_from(database_url: str) -> None:
    seeded = asyncio.run(seed(database_url, forks=True))
    asyncio.run(_age(database_url, seeded.session_id))
    dry = manage(database_url, "run", "scripts/purge_sessions.py", "--days", "30", "--dry-run")
    assert "would delete 2 session(s)" in dry.stdout, dry.stdout + dry.stderr

    purge = manage(database_url, "run", "scripts/purge_sessions.py", "--days", "30", "--yes")

    assert purge.returncode == 0 and "deleted 2 session(s)" in purge.stdout, purge.stderr
    assert asyncio.run(_lineage_state(database_url)) == {
        "Zürich ✓": (True, True),  # hidden, kept for its forks
        "fork": (True, True),
        "fork of a fork": (True, False),
    }


def test_export_of_a_fork_holds_its_lineage_and_whole_history(
    database_url: str, tmp_path: Path
) -> None:
    seeded = asyncio.run(seed(database_url, forks=True))
    out = tmp_path / "fork.json"
    leaf = "00000000-0000-4000-8000-000000000001"
    export = manage(database_url, "run", "scripts/export_session.py", leaf, "-o", str(out))
    assert export.returncode == 0, export.stderr
    exported = json.loads(out.read_text())
    assert exported["session"]["parent_id"] == "00000000-0000-4000-8000-000000000002"
    assert exported["session"]["forked_at_seq"] == 5
    assert [m["seq"] for m in exported["messages"]] == [1, 2, 3, 4, 5]
    assert {m["session_id"] for m in exported["messages"][:4]} == {seeded.session_id}
    assert exported["messages"][4]["content"] == "edited"
    deleted = "00000000-0000-4000-8000-000000000002"
    hidden = manage(database_url, "run", "scripts/export_session.py", deleted)
    assert hidden.returncode == 1 and f"no session {deleted}" in hidden.stderr
