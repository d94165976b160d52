"""Create an API user; the new token is the last line of stdout (shown once)."""

from __future__ import annotations

import argparse

from core.database import Database
from core.errors import AppError
from core.settings import Settings
from project.management.base import BaseCommand, CommandError
from services import UserService
from services.auth.users import USERNAME_RULE


class Command(BaseCommand):
    help = "Create a user and print a new API token as the last line."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("name", help=f"the user's name: {USERNAME_RULE}")
        parser.add_argument("--admin", action="store_true", help="may read every session")

    async def handle(self, options: argparse.Namespace, settings: Settings) -> int:
        try:
            async with Database.opened(settings) as database:
                issued = await UserService(database).create_user(
                    options.name, is_admin=options.admin
                )
        except AppError as exc:
            raise CommandError(exc.detail) from None
        role = "admin" if options.admin else "user"
        print(f"created {role} {options.name}; token (shown once):")
        print(issued.token)
        return 0
