"""The migration history: in step with the models, reversible, valid on both dialects."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
from asgi_lifespan import LifespanManager

from project.app import create_app
from core.database.schema import MIGRATIONS_DIR, migration_files
from project.migrations import make_migration
from tests.conftest import make_settings
from tests.databases import REPO_ROOT


def aerich(database_url: str, *args: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess[str]:
    """Run the real aerich CLI with our config."""
    env = {**os.environ, "DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "aerich", "-c", "aerich.ini", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False,
    )


def test_models_match_the_latest_migration(tmp_path: Path) -> None:
    scratch = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, scratch)
    assert make_migration("drift_check", location=scratch) is None, (
        "models changed without a migration: run `python -m project makemigrations NAME`"
    )


def test_every_migration_has_sql_for_both_dialects() -> None:
    for name in migration_files():
        text = (MIGRATIONS_DIR / "models" / name).read_text()
        assert "'sqlite':" in text and "'postgres':" in text, name


def test_upgrade_downgrade_upgrade(empty_database_url: str) -> None:
    first = aerich(empty_database_url, "upgrade")
    assert first.returncode == 0, first.stderr
    assert aerich(empty_database_url, "heads").stdout.strip() in {"", "No available heads."}
    for _ in migration_files():
        down = aerich(empty_database_url, "downgrade", "--yes")
        assert down.returncode == 0, down.stdout + down.stderr
    assert len(aerich(empty_database_url, "heads").stdout.strip().splitlines()) == len(
        migration_files()
    )
    again = aerich(empty_database_url, "upgrade")
    assert again.returncode == 0, again.stdout + again.stderr
    heads = aerich(empty_database_url, "heads")
    assert heads.returncode == 0
    assert not any(name in heads.stdout for name in migration_files())


async def test_readyz_reports_pending_migrations_until_migrated(empty_database_url: str) -> None:
    app = create_app(make_settings(empty_database_url))
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            before = await client.get("/readyz")
            assert before.status_code == 503
            assert before.headers["content-type"] == "application/problem+json"
            body = before.json()
            assert body["code"] == "not_ready"
            assert body["pending_migrations"] == migration_files()
            assert "make migrate" in body["detail"]
            assert (await client.get("/healthz")).status_code == 200

            assert aerich(empty_database_url, "upgrade").returncode == 0
            after = await client.get("/readyz")
            assert after.status_code == 200, after.text
