"""Issue another API token for an existing user, e.g. to rotate a leaked one.

The token is the last line of stdout and is shown only once: the database
keeps its sha256 and a short prefix (which `revoketoken` takes).
"""

from __future__ import annotations

import argparse

from core.database import Database
from core.errors import AppError
from core.settings import Settings
from project.management.base import BaseCommand, CommandError
from services import UserService


class Command(BaseCommand):
    help = "Issue a new API token for a user and print it as the last line."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("name", help="the user's name")
        parser.add_argument("--label", default="", help="a note stored with the token")

    async def handle(self, options: argparse.Namespace, settings: Settings) -> int:
        try:
            async with Database.opened(settings) as database:
                issued = await UserService(database).create_token(options.name, name=options.label)
        except AppError as exc:
            raise CommandError(exc.detail) from None
        print(f"new token for {options.name} (prefix {issued.prefix}; shown once):")
        print(issued.token)
        return 0
