"""Load a `backup` file into a migrated, empty database of either dialect.

Rows go in parents first, in batches that each commit in their own
transaction; PostgreSQL sequences are moved past the restored ids at the end.
A non-empty database is refused unless `--force`, which first deletes every
application row (after confirmation on a terminal).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from core.settings import Settings
from project.backup import (
    BackupError,
    app_models,
    fix_sequences,
    inspect_target,
    load_rows,
    read_plan,
    wipe,
)
from project.management.base import BaseCommand, CommandError
from project.management.terminal import Progress, add_destructive_arguments, confirm


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
            await wipe(app_models())
        try:
            counts = await load_rows(options.file, plan, Progress("restore"))
        except BackupError as exc:
            raise CommandError(f"{exc}; the database is partly restored") from None
        fixed = await fix_sequences()
        print(f"restored {sum(counts.values())} rows into {len(counts)} tables")
        if fixed:
            print(f"reset sequences: {', '.join(fixed)}")
        return 0
