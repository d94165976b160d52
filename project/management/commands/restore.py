"""Load a `backup` file into a migrated, empty database of either dialect.

Everything happens in one transaction: rows go in parents first, counters
behind their rows are raised, PostgreSQL sequences are moved past the
restored ids. A failure anywhere leaves the database as it was. A non-empty
database is refused unless `--force`, which deletes every application row
first, in the same transaction (after confirmation on a terminal).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from core.database import Database
from core.settings import Settings
from project.backup import BackupError, inspect_target, read_plan, restore
from project.management.base import BaseCommand, CommandError
from project.management.terminal import Progress, add_destructive_arguments, confirm, rate


class Command(BaseCommand):
    help = "Restore a backup FILE into a migrated, empty database."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("file", type=Path, help="a file written by `backup`")
        parser.add_argument(
            "--force", action="store_true", help="delete the database's rows first if any"
        )
        add_destructive_arguments(parser)

    async def handle(self, options: argparse.Namespace, settings: Settings) -> int:
        try:
            plan = read_plan(options.file)
            await inspect_target(plan)
        except OSError as exc:
            raise CommandError(f"cannot read {options.file}: {exc.strerror or exc}") from None
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        existing = sum(plan.existing.values())
        print(
            f"{options.file}: {plan.total} rows from {plan.header['dialect']}, "
            f"taken {plan.header['created_at']} at {plan.header['migration_head']}"
        )
        if existing and not options.force:
            raise CommandError(
                f"the database is not empty ({existing} rows); restore needs an empty "
                "database, or --force to delete its rows first"
            )
        if options.dry_run:
            if existing:
                print(f"would delete {existing} existing rows")
            for table, count in plan.rows.items():
                print(f"would restore {count:>8} rows into {table}")
            return 0
        if existing:
            confirm(f"Delete all {existing} rows of this database?", assume_yes=options.yes)
        started = time.monotonic()
        database = Database.for_settings(settings)
        try:
            done = await restore(
                options.file, plan, database, Progress("restore"), wipe=bool(existing)
            )
        except BackupError as exc:
            raise CommandError(f"{exc}; nothing was restored") from None
        total, elapsed = sum(done.rows.values()), time.monotonic() - started
        print(f"restored {total} rows into {len(done.rows)} tables {rate(total, elapsed)}")
        if done.repaired:
            counters = ", ".join(f"{name} {n}" for name, n in done.repaired.items())
            print(f"repaired counters: {counters} (raised to their rows' highest seq)")
        if done.sequences:
            print(f"reset sequences: {', '.join(done.sequences)}")
        return 0
