"""Show which migrations are applied, so an operator can check before `migrate`.

Aerich's own `heads` decides what is pending (same answer as
`aerich -c aerich.ini heads`); this only formats it Django-style.
"""

from __future__ import annotations

import argparse

from aerich import Command as AerichCommand
from tortoise.exceptions import DBConnectionError, OperationalError

from core.database import APP_LABEL, tortoise_config
from core.database.schema import MIGRATIONS_DIR
from core.settings import Settings
from project.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "List migrations: [X] applied, [ ] pending (Aerich history and heads)."
    needs_database = False  # Aerich opens and closes its own connections

    async def handle(self, options: argparse.Namespace, settings: Settings) -> int:
        config = tortoise_config(settings)
        try:
            async with AerichCommand(config, app=APP_LABEL, location=str(MIGRATIONS_DIR)) as aerich:
                await aerich.init()
                history = await aerich.history()
                try:
                    pending = set(await aerich.heads())
                except OperationalError:  # no aerich table: never migrated
                    pending = set(history)
        except (DBConnectionError, ConnectionError, OSError) as exc:
            raise CommandError(f"cannot reach the database: {exc}") from None
        print(APP_LABEL)
        for name in history:
            print(f" [{' ' if name in pending else 'X'}] {name}")
        print(f"{len(history) - len(pending)} applied, {len(pending)} pending")
        return 0
