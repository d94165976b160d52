"""Issue another API token for an existing user, e.g. to rotate a leaked one.

The token is the last line of stdout and is shown only once: the database
keeps its sha256 and a short prefix (which `revoketoken` takes).
"""

from __future__ import annotations

import argparse

from project.errors import AppError
from project.management.base import BaseCommand, CommandError
from project.settings import Settings
from services import UserService


class Command(BaseCommand):
    help = "Issue a new API token for a user and print it as the last line."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("name", help="the user's name")
        parser.add_argument("--label", default="", help="a note stored with the token")

    async def handle(self, options: argparse.Namespace, settings: Settings) -> int:
        try:
            issued = await UserService().create_token(options.name, name=options.label)
        except AppError as exc:
            raise CommandError(exc.detail) from None
        print(f"new token for {options.name} (prefix {issued.prefix}; shown once):")
        print(issued.token)
        return 0
