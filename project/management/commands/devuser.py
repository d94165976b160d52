"""On an empty database, create the development user and show how to call the API."""

from __future__ import annotations

import argparse

from core.database import Database
from core.errors import AppError
from core.settings import Settings, env_name
from models import User
from project.management.base import BaseCommand, CommandError
from services import UserService


class Command(BaseCommand):
    help = "Create the dev user on an empty database and print its token and a curl example."

    async def handle(self, options: argparse.Namespace, settings: Settings) -> int:
        name = settings.dev_user
        try:
            async with Database.opened(settings) as database:
                issued = await UserService(database).get_or_create_dev_user(name)
        except AppError as exc:  # TERRAPIN_DEV_USER breaks the user name rule
            raise CommandError(f"{env_name('dev_user')}: {exc.detail}") from None
        if issued is None:
            print(_existing_users_advice(name, await User.exists(username=name)))
            return 0
        print(f"created user {name!r}; its API token (shown once):")
        print(f"  {issued.token}")
        print("try:")
        print(
            f"  curl -s -X POST http://127.0.0.1:8000/api/v1/sessions "
            f"-H 'Authorization: Bearer {issued.token}' "
            "-H 'Content-Type: application/json' -d '{\"title\": \"hello\"}'"
        )
        return 0


def _existing_users_advice(name: str, dev_user_exists: bool) -> str:
    """How to get a token when users exist (the dev user's first one is never shown again)."""
    if dev_user_exists:
        return (
            f"user {name!r} exists already (its token was shown once, when it was made); "
            f"get a new token with `python -m project createtoken {name}`"
        )
    return (
        "users exist already, so no dev user was made; "
        "`python -m project createuser NAME` makes one, `createtoken NAME` a token for it"
    )
