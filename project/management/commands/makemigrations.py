"""Write a migration for model changes, with SQL for both SQLite and PostgreSQL."""

from __future__ import annotations

import argparse
import asyncio
import re

from core.settings import Settings
from project.management.base import BaseCommand, CommandError
from project.migrations import MigrationError, make_migration


class Command(BaseCommand):
    help = "Generate a two-dialect Aerich migration from model changes."
    needs_database = False

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("name", help="short snake_case name, e.g. add_session_tags")

    async def handle(self, options: argparse.Namespace, settings: Settings) -> int:
        if not re.fullmatch(r"[a-z0-9_]{1,60}", options.name):
            raise CommandError("the name must be snake_case letters, digits and _ (≤ 60)")
        try:
            path = await asyncio.to_thread(make_migration, options.name)
        except MigrationError as exc:
            raise CommandError(f"aerich could not generate the migration: {exc}") from None
        print(f"created {path}" if path else "No changes detected")
        return 0
