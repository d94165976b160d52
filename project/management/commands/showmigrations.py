"""Show which migrations are applied, so an operator can check before `migrate`.

Aerich's own `heads` decides what is pending (same answer as
`aerich -c aerich.ini heads`); this only formats it Django-style.
"""

from __future__ import annotations

import argparse

from tortoise.exceptions import OperationalError

from core.database import APP_LABEL
from core.settings import Settings
from project.management.base import BaseCommand, aerich, database_errors


class Command(BaseCommand):
    help = "List migrations: [X] applied, [ ] pending (Aerich history and heads)."
    needs_database = False  # Aerich opens and closes its own connections

    async def handle(self, options: argparse.Namespace, settings: Settings) -> int:
        with database_errors(advice=""):
            async with aerich(settings) as command:
                await command.init()
                history = await command.history()
                try:
                    pending = set(await command.heads())
                except OperationalError:  # no aerich table: never migrated
                    pending = set(history)
        print(APP_LABEL)
        for name in history:
            print(f" [{' ' if name in pending else 'X'}] {name}")
        print(f"{len(history) - len(pending)} applied, {len(pending)} pending")
        return 0
