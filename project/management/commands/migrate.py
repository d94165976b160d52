"""Bring the database named by DATABASE_URL to the migration head (Aerich upgrade)."""

from __future__ import annotations

import argparse

from core.settings import Settings
from project.management.base import BaseCommand, aerich, database_errors


class Command(BaseCommand):
    help = "Apply pending migrations (same as `aerich -c aerich.ini upgrade`)."
    needs_database = False  # Aerich opens and closes its own connections

    async def handle(self, options: argparse.Namespace, settings: Settings) -> int:
        with database_errors(advice=""):
            async with aerich(settings) as command:
                applied = await command.upgrade(run_in_transaction=True)
        for name in applied:
            print(f"applied {name}")
        print(f"database is at the migration head ({len(applied)} applied now)")
        return 0
