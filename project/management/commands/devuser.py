"""On an empty database, create the development user and show how to call the API."""

from __future__ import annotations

import argparse

from core.database import Database
from core.settings import Settings
from project.management.base import BaseCommand
from services import UserService


class Command(BaseCommand):
    help = "Create the dev user on an empty database and print its token and a curl example."

    async def handle(self, options: argparse.Namespace, settings: Settings) -> int:
        async with Database.opened(settings) as database:
            issued = await UserService(database).get_or_create_dev_user(settings.dev_user)
        if issued is None:
            print("users exist already; `python -m project createuser NAME` makes another")
            return 0
        print(f"created user {settings.dev_user!r}; its API token (shown once):")
        print(f"  {issued.token}")
        print("try:")
        print(
            f"  curl -s -X POST http://127.0.0.1:8000/api/v1/sessions "
            f"-H 'Authorization: Bearer {issued.token}' "
            "-H 'Content-Type: application/json' -d '{\"title\": \"hello\"}'"
        )
        return 0
