"""backup/restore: SQLite → PostgreSQL → SQLite gives identical content; refusals."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from project.backup import json_default
from tests import databases
from tests.management.conftest import assert_one_line_error, last_line, manage
from tests.management.data import seed, snapshot


@pytest.fixture
def pg_url(pg_template: databases.PostgresTemplate) -> Iterator[str]:
    url, name = asyncio.run(pg_template.clone())
    yield url
    asyncio.run(databases.drop_database(name))


def test_round_trip_sqlite_postgres_sqlite(
    sqlite_template: databases.SqliteTemplate, pg_url: str, tmp_path: Path
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    source = sqlite_template.clone(tmp_path / "a")
    target = sqlite_template.clone(tmp_path / "b")
    seeded = asyncio.run(seed(source, messages=10_000, forks=True))
    original = asyncio.run(snapshot(source))
    assert len(original["message"]) == seeded.messages + 1  # and a fork's own message
    assert len([row for row in original["chat_session"] if row["parent_id"]]) == 2
    started = time.monotonic()

    one, two, three = (tmp_path / f"{n}.jsonl" for n in ("one", "two", "three"))
    assert_ok(manage(source, "backup", str(one)))
    restored_pg = assert_ok(manage(pg_url, "restore", str(one)))
    assert "reset sequences: context_snapshot, run_event" in restored_pg.stdout
    assert_ok(manage(pg_url, "backup", str(two)))
    assert_ok(manage(target, "restore", str(two)))
    assert_ok(manage(target, "backup", str(three)))
    # ~15 s on an idle 2-core VM; the bound only catches row-by-row regressions.
    assert time.monotonic() - started < 90

    expected = as_json(original)
    assert rows_of(one) == expected
    assert rows_of(two) == expected  # what PostgreSQL held
    assert rows_of(three) == expected  # and SQLite again
    assert asyncio.run(snapshot(target)) == original
    header = json.loads(two.read_text().split("\n", 1)[0])
    assert header["dialect"] == "postgres" and header["migration_head"] == header["migrations"][-1]

    # Token hashes survived; PostgreSQL's sequence continues after the restored ids.
    who = manage(pg_url, "shell", "-c", f"(await users.authenticate({seeded.token!r})).username")
    assert last_line(assert_ok(who).stdout) == "alice"
    new_id = manage(
        pg_url,
        "shell",
        "-c",
        "run = await Run.first()\n(await RunEvent.create(run=run, seq=99, type='x')).id",
    )
    assert last_line(assert_ok(new_id).stdout) == "4"


def as_json(tables: dict[str, list[dict[str, Any]]]) -> dict[str, list[Any]]:
    """ORM values as a backup file encodes them."""
    encoded: dict[str, list[Any]] = json.loads(json.dumps(tables, default=json_default))
    return {table: sorted(rows, key=_key) for table, rows in encoded.items()}


def rows_of(path: Path) -> dict[str, list[Any]]:
    """The rows of a backup file, per table."""
    tables: dict[str, list[Any]] = {}
    for line in path.read_text(encoding="utf-8").splitlines()[1:-1]:
        item = json.loads(line)
        tables.setdefault(item["table"], []).append(item["row"])
    return {table: sorted(rows, key=_key) for table, rows in tables.items()}


def _key(row: dict[str, Any]) -> str:
    return str(row["id"]).zfill(40)


def assert_ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def test_restore_refuses_a_non_empty_database(database_url: str, tmp_path: Path) -> None:
    asyncio.run(seed(database_url))
    before = asyncio.run(snapshot(database_url))
    backup = tmp_path / "b.jsonl"
    assert_ok(manage(database_url, "backup", str(backup)))
    assert_one_line_error(manage(database_url, "restore", str(backup)), "not empty", "--force")

    dry = assert_ok(manage(database_url, "restore", str(backup), "--force", "--dry-run"))
    assert "would delete" in dry.stdout and "would restore" in dry.stdout

    assert_ok(manage(database_url, "restore", str(backup), "--force", "--yes"))
    assert asyncio.run(snapshot(database_url)) == before


def test_backup_refuses_to_overwrite_and_restore_rejects_bad_files(
    sqlite_template: databases.SqliteTemplate, tmp_path: Path
) -> None:
    url = sqlite_template.clone(tmp_path)
    backup = tmp_path / "b.jsonl"
    assert_ok(manage(url, "backup", str(backup)))
    truncated = tmp_path / "t.jsonl"
    truncated.write_text("\n".join(backup.read_text().splitlines()[:-1]) + "\n")
    assert_one_line_error(manage(url, "backup", str(backup)), "exists", "--force")
    assert_one_line_error(manage(url, "restore", str(truncated)), "truncated")
