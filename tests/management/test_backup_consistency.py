"""Backups are one snapshot, restores are all-or-nothing, and restored counters match the rows."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.clock import utcnow
from models import ChatSession, Message, MessageRole, Run, RunEvent, RunStatus
from services import Services
from tests import databases
from tests.databases import REPO_ROOT
from tests.management.conftest import assert_one_line_error, last_line, manage
from tests.management.data import Seeded, seed, snapshot
from tests.runs_support import API

# The final line of `backup` and `restore`: a total, the time taken and a rate.
TOTAL_AND_RATE = r"(\d+) rows .* in \d+\.\d s \([\d,]+ rows/s\)"

COUNTERS = """
import json
from tortoise.functions import Max
sessions = await ChatSession.annotate(top=Max("messages__seq")).values("message_count", "top")
runs = await Run.annotate(top=Max("events__seq")).values("event_count", "top")
json.dumps({
    "sessions": [[row["message_count"], row["top"] or 0] for row in sessions],
    "runs": [[row["event_count"], row["top"] or 0] for row in runs],
})
"""


@dataclass
class Targets:
    """Empty migrated databases to restore into, one per dialect."""

    urls: dict[str, str]


@pytest.fixture
def targets(
    sqlite_template: databases.SqliteTemplate,
    pg_template: databases.PostgresTemplate,
    tmp_path: Path,
) -> Iterator[Targets]:
    """One empty database of each dialect (cloned before the test's app connects)."""
    (tmp_path / "target").mkdir()
    pg_url, pg_name = asyncio.run(pg_template.clone())
    try:
        yield Targets({"sqlite": sqlite_template.clone(tmp_path / "target"), "postgres": pg_url})
    finally:
        asyncio.run(databases.drop_database(pg_name))


def counters(url: str) -> dict[str, list[list[int]]]:
    """[counter, highest seq] of every session (messages) and every run (events)."""
    proc = manage(url, "shell", "-c", COUNTERS)
    assert proc.returncode == 0, proc.stderr
    result: dict[str, list[list[int]]] = json.loads(last_line(proc.stdout))
    return result


def assert_ok(proc: Any) -> Any:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


async def _bulk_history(services: Services, messages: int) -> None:
    """A session with a long history and a run with many events: reading them takes a while."""
    owner = (await services.users.create_user("archive")).user
    now = utcnow()
    session = await ChatSession.create(
        owner=owner, title="archive", message_count=messages, last_message_at=now
    )
    run = await Run.create(session=session, status=RunStatus.COMPLETED, event_count=messages)
    await Message.bulk_create(
        [
            Message(session=session, seq=seq, role=MessageRole.USER, content=f"old {seq}")
            for seq in range(1, messages + 1)
        ],
        batch_size=1000,
    )
    await RunEvent.bulk_create(
        [
            RunEvent(run=run, seq=seq, type="delta", data={"text": "w"})
            for seq in range(1, messages + 1)
        ],
        batch_size=1000,
    )


class Writers:
    """Appends and agent runs, on several sessions, until stopped."""

    def __init__(self, client: httpx.AsyncClient, headers: dict[str, str]) -> None:
        self.client = client
        self.headers = headers
        self.done: list[float] = []  # when each write was answered
        self._stop = asyncio.Event()

    async def append(self, session_id: str) -> None:
        """Append user messages one after another."""
        while not self._stop.is_set():
            sent = await self.client.post(
                f"{API}/sessions/{session_id}/messages",
                json={"role": "user", "content": "x"},
                headers=self.headers,
            )
            assert sent.status_code == 201, sent.text
            self.done.append(time.monotonic())

    async def converse(self, session_id: str) -> None:
        """Run the agent again and again (each run writes messages and events)."""
        while not self._stop.is_set():
            answered = await self.client.post(
                f"{API}/agent/message",
                json={"session_id": session_id, "message": "hello there"},
                headers=self.headers,
            )
            assert answered.status_code == 200, answered.text
            self.done.append(time.monotonic())

    def stop(self) -> None:
        """Let every loop finish its current write and return."""
        self._stop.set()


async def _sessions(client: httpx.AsyncClient, headers: dict[str, str], n: int) -> list[str]:
    ids = []
    for _ in range(n):
        made = await client.post(f"{API}/sessions", json={"title": "w"}, headers=headers)
        assert made.status_code == 201, made.text
        ids.append(made.json()["id"])
    return ids


async def _backup(database_url: str, path: Path) -> tuple[float, float, str]:
    """Run `backup` in its own process; return when it started and ended, and its stdout."""
    env = {**os.environ, "DATABASE_URL": database_url, "TERRAPIN_LOG_LEVEL": "WARNING"}
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "project",
        "backup",
        str(path),
        cwd=REPO_ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return started, time.monotonic(), out.decode()


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"delta_coalesce_ms": 0}


async def test_a_backup_taken_during_writes_restores_into_either_dialect(
    targets: Targets,
    database_url: str,
    client: httpx.AsyncClient,
    services: Services,
    tmp_path: Path,
) -> None:
    await _bulk_history(services, messages=20_000)
    headers = {"Authorization": f"Bearer {(await services.users.create_user('w')).token}"}
    writers = Writers(client, headers)
    appended, conversed = await _sessions(client, headers, 3), await _sessions(client, headers, 2)
    tasks = [asyncio.create_task(writers.append(sid)) for sid in appended]
    tasks += [asyncio.create_task(writers.converse(sid)) for sid in conversed]
    backup = tmp_path / "live.jsonl"
    try:
        started, ended, out = await _backup(database_url, backup)
    finally:
        writers.stop()
        await asyncio.gather(*tasks)
    assert sum(started < at < ended for at in writers.done) > 10  # it did run during writes
    assert re.search(TOTAL_AND_RATE, last_line(out)), out

    for dialect, url in targets.urls.items():
        restored = await asyncio.to_thread(manage, url, "restore", str(backup))
        assert restored.returncode == 0, f"into {dialect}: {restored.stdout}{restored.stderr}"
        assert "repaired" not in restored.stdout  # one snapshot: nothing to repair
        found = await asyncio.to_thread(counters, url)
        assert len(found["sessions"]) == 6 and len(found["runs"]) > 2
        assert all(count == top for count, top in found["sessions"]), (dialect, found)
        assert all(count == top for count, top in found["runs"]), (dialect, found)


CORRUPTIONS = {
    # The last row's line is not JSON.
    "not_json": lambda line: line[: len(line) // 2],
    # A value the column cannot take.
    "bad_value": lambda line: _edit(line, created_at="yesterday"),
    # A row whose parent is not in the file: the database refuses it.
    "missing_parent": lambda line: _edit(line, run_id=str(uuid.uuid4())),
}


def _edit(line: str, **changes: Any) -> str:
    item = json.loads(line)
    item["row"].update(changes)
    return json.dumps(item)


def _corrupt_last_row(source: Path, target: Path, corrupt: Any) -> None:
    lines = source.read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[-2])["table"] == "run_event"  # the last table written
    lines[-2] = corrupt(lines[-2])
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_a_restore_that_fails_midway_changes_nothing(
    database_url: str, sqlite_template: databases.SqliteTemplate, tmp_path: Path, corruption: str
) -> None:
    (tmp_path / "source").mkdir()
    source = sqlite_template.clone(tmp_path / "source")
    asyncio.run(seed(source, messages=1200))  # rows in several insert batches
    good, bad = tmp_path / "good.jsonl", tmp_path / "bad.jsonl"
    assert_ok(manage(source, "backup", str(good)))
    _corrupt_last_row(good, bad, CORRUPTIONS[corruption])

    assert_one_line_error(manage(database_url, "restore", str(bad)), "nothing was restored")
    assert all(not rows for rows in asyncio.run(snapshot(database_url)).values())

    # With --force, the rows already there survive a failed restore.
    assert_ok(manage(database_url, "restore", str(good)))
    before = asyncio.run(snapshot(database_url))
    failed = manage(database_url, "restore", str(bad), "--force", "--yes")
    assert_one_line_error(failed, "nothing was restored")
    assert asyncio.run(snapshot(database_url)) == before


@pytest.fixture
def lagging_backup(
    sqlite_template: databases.SqliteTemplate, tmp_path: Path
) -> Iterator[tuple[Path, Seeded]]:
    """A SQLite backup whose counters are behind its rows, as an inconsistent backup had them."""
    (tmp_path / "source").mkdir()
    source = sqlite_template.clone(tmp_path / "source")
    seeded = asyncio.run(seed(source, messages=20))  # one run with events 1..3
    path = tmp_path / "lagging.jsonl"
    assert_ok(manage(source, "backup", str(path)))
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        if item.get("table") == "chat_session" and item["row"]["id"] == seeded.session_id:
            item["row"]["message_count"] = 17
        if item.get("table") == "run":
            item["row"]["event_count"] = 1
        lines.append(json.dumps(item))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    yield path, seeded


async def test_a_restore_repairs_counters_behind_their_rows(
    lagging_backup: tuple[Path, Seeded], database_url: str, client: httpx.AsyncClient
) -> None:
    path, seeded = lagging_backup
    restored = await asyncio.to_thread(manage, database_url, "restore", str(path))
    assert restored.returncode == 0, restored.stdout + restored.stderr
    repaired = "repaired counters: chat_session.message_count 1, run.event_count 1"
    assert repaired in restored.stdout
    found = await asyncio.to_thread(counters, database_url)
    assert sorted(found["sessions"]) == [[0, 0], [20, 20]]
    # The app's sweeper may have expired the run's approval since (one more event).
    [[event_count, top]] = found["runs"]
    assert event_count == top >= 3

    # The session takes appends again (its next seq is free), twice.
    headers = {"Authorization": f"Bearer {seeded.token}"}
    for seq in (21, 22):
        sent = await client.post(
            f"{API}/sessions/{seeded.session_id}/messages",
            json={"role": "user", "content": "after the restore"},
            headers=headers,
        )
        assert sent.status_code == 201, sent.text
        assert sent.json()["seq"] == seq


def test_backup_and_restore_print_a_total_and_a_rate(database_url: str, tmp_path: Path) -> None:
    asyncio.run(seed(database_url))
    backup = tmp_path / "b.jsonl"
    wrote = assert_ok(manage(database_url, "backup", str(backup)))
    found = re.search(TOTAL_AND_RATE, last_line(wrote.stdout))
    assert found and last_line(wrote.stdout).startswith("wrote "), wrote.stdout
    assert int(found.group(1)) == len(backup.read_text().splitlines()) - 2
    restored = assert_ok(manage(database_url, "restore", str(backup), "--force", "--yes"))
    assert re.search(TOTAL_AND_RATE, restored.stdout), restored.stdout
