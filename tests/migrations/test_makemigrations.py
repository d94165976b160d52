"""`makemigrations` turns a model change into one migration valid on both dialects."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from project.migrations import order_table_drops
from tests.databases import REPO_ROOT

COPIED = ["core", "project", "models", "services", "agent", "routes", "migrations", "aerich.ini"]


def _copy_repo(target: Path) -> Path:
    for name in COPIED:
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, target / name)
    return target


def _run(cwd: Path, *args: str, database_url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ}
    if database_url:
        env["DATABASE_URL"] = database_url
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=180, check=False)


@pytest.fixture(scope="module")
def changed_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the project whose ChatSession gained a column, with its new migration."""
    repo = _copy_repo(tmp_path_factory.mktemp("repo"))
    models_file = repo / "models" / "sessions.py"
    text = models_file.read_text()
    marker = "    last_message_at = fields.DatetimeField(null=True)\n"
    assert marker in text
    models_file.write_text(text.replace(
        marker, marker + "    tags = fields.CharField(max_length=50, null=True)\n", 1
    ))
    made = _run(repo, "-m", "project", "makemigrations", "add_tags")
    assert made.returncode == 0, made.stderr
    assert "created" in made.stdout
    return repo


def test_the_new_migration_carries_sql_for_both_dialects(changed_repo: Path) -> None:
    [path] = list((changed_repo / "migrations" / "models").glob("*_add_tags.py"))
    text = path.read_text()
    assert text.count('ALTER TABLE "chat_session" ADD "tags" VARCHAR(50)') == 2
    assert text.count('ALTER TABLE "chat_session" DROP COLUMN "tags"') == 2
    again = _run(changed_repo, "-m", "project", "makemigrations", "add_tags_again")
    assert again.returncode == 0 and "No changes detected" in again.stdout


def test_the_new_migration_applies_and_reverts(
    changed_repo: Path, empty_database_url: str
) -> None:
    up = _run(changed_repo, "-m", "project", "migrate", database_url=empty_database_url)
    assert up.returncode == 0, up.stderr
    down = _run(changed_repo, "-m", "aerich", "-c", "aerich.ini", "downgrade", "--yes",
                database_url=empty_database_url)
    assert down.returncode == 0, down.stdout + down.stderr
    assert "add_tags" in down.stdout
    up_again = _run(changed_repo, "-m", "project", "migrate", database_url=empty_database_url)
    assert up_again.returncode == 0, up_again.stderr
    if empty_database_url.startswith("sqlite://"):
        db = sqlite3.connect(empty_database_url.removeprefix("sqlite://"))
        columns = {row[1] for row in db.execute("PRAGMA table_info(chat_session)")}
        db.close()
        assert "tags" in columns


@pytest.fixture(scope="module")
def enum_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the project whose SessionStatus gained a member, with its new migration."""
    repo = _copy_repo(tmp_path_factory.mktemp("repo"))
    enums = repo / "models" / "enums.py"
    marker = '    ARCHIVED = "archived"\n'
    assert marker in enums.read_text()
    enums.write_text(enums.read_text().replace(marker, marker + '    PAUSED = "paused"\n', 1))
    made = _run(repo, "-m", "project", "makemigrations", "add_paused")
    assert made.returncode == 0, made.stderr
    assert "created" in made.stdout
    return repo


def test_a_new_enum_member_is_a_comment_on_postgresql_only(enum_repo: Path) -> None:
    [path] = list((enum_repo / "migrations" / "models").glob("*_add_paused.py"))
    text = path.read_text()
    sqlite_part, postgres_part = text.split("'postgres':", 1)
    assert 'COMMENT ON COLUMN "chat_session"."status"' in postgres_part
    assert "PAUSED: paused" in postgres_part
    assert "COMMENT" not in sqlite_part and "Nothing changes on this dialect" in sqlite_part
    again = _run(enum_repo, "-m", "project", "makemigrations", "add_paused_again")
    assert again.returncode == 0 and "No changes detected" in again.stdout


def test_new_tables_are_dropped_newest_first() -> None:
    upgrade = 'CREATE TABLE IF NOT EXISTS "agent" (...);\nCREATE TABLE "agent_version" (...);'
    downgrade = (
        'DROP INDEX IF EXISTS "idx";\n'
        '        DROP TABLE IF EXISTS "agent";\n'
        '        ALTER TABLE "run" DROP COLUMN "x";\n'
        '        DROP TABLE IF EXISTS "agent_version";\n'
        '        DROP TABLE IF EXISTS "older";'
    )
    assert order_table_drops(upgrade, downgrade) == (
        'DROP INDEX IF EXISTS "idx";\n'
        '        DROP TABLE IF EXISTS "agent_version";\n'
        '        ALTER TABLE "run" DROP COLUMN "x";\n'
        '        DROP TABLE IF EXISTS "agent";\n'
        '        DROP TABLE IF EXISTS "older";'
    )


def test_a_migration_without_sql_on_one_dialect_applies_and_reverts(
    enum_repo: Path, empty_database_url: str
) -> None:
    up = _run(enum_repo, "-m", "project", "migrate", database_url=empty_database_url)
    assert up.returncode == 0, up.stderr
    down = _run(enum_repo, "-m", "aerich", "-c", "aerich.ini", "downgrade", "--yes",
                database_url=empty_database_url)
    assert down.returncode == 0, down.stdout + down.stderr
    assert "add_paused" in down.stdout
