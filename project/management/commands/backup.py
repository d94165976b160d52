"""Write every application table to a versioned JSONL file, in constant memory.

It is the supported way to move data between databases (for example from
the embedded SQLite default to PostgreSQL): `backup` on one, `migrate` then
`restore` on the other. The format is described in `project.backup`. The
whole file is read from one snapshot of the database, so the server can keep
writing meanwhile.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from core.database import Database
from core.settings import Settings
from project.backup import write_backup
from project.management.base import BaseCommand, CommandError
from project.management.terminal import Progress, rate


class Command(BaseCommand):
    help = "Back up every table to FILE as versioned JSONL (see `restore`)."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("file", type=Path, help="where to write, e.g. backup.jsonl")
        parser.add_argument("--force", action="store_true", help="overwrite an existing FILE")

    async def handle(self, options: argparse.Namespace, settings: Settings) -> int:
        started = time.monotonic()
        try:
            with atomic_file(options.file, overwrite=options.force) as out:
                database = Database.for_settings(settings)
                counts = await write_backup(out, database, Progress("backup"))
        except OSError as exc:
            raise CommandError(f"cannot write {options.file}: {exc.strerror or exc}") from None
        total, elapsed = sum(counts.values()), time.monotonic() - started
        tables = ", ".join(f"{table} {n}" for table, n in counts.items())
        print(f"wrote {total} rows to {options.file} {rate(total, elapsed)}: {tables}")
        return 0


@contextmanager
def atomic_file(target: Path, *, overwrite: bool) -> Iterator[IO[str]]:
    """Write `target.partial`, renamed to `target` only once everything is written.

    Plain blocking file I/O is fine here: a command's loop serves nothing else.
    """
    if target.exists() and not overwrite:
        raise CommandError(f"{target} exists; pass --force to overwrite it")
    partial = target.with_name(target.name + ".partial")
    try:
        with partial.open("w", encoding="utf-8") as out:
            yield out
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
