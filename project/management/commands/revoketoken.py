"""Revoke API tokens by their prefix, so a leaked token stops working at once.

Only the prefix is needed (see `listusers`), never the token itself.
"""

from __future__ import annotations

import argparse

from core.database import Database
from core.settings import Settings
from models import ApiToken
from project.management.base import BaseCommand, CommandError
from project.management.terminal import add_destructive_arguments, confirm
from services import UserService


class Command(BaseCommand):
    help = "Revoke every live API token with the given prefix."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("prefix", help="the token prefix, e.g. tp_AbC123xy")
        add_destructive_arguments(parser)

    async def handle(self, options: argparse.Namespace, settings: Settings) -> int:
        live = ApiToken.filter(prefix=options.prefix, revoked_at__isnull=True)
        rows = await live.select_related("user").order_by("created_at")
        if not rows:
            raise CommandError(f"no live token has the prefix {options.prefix!r}")
        for token in rows:
            print(f"{token.prefix}  user={token.user.username}  created={token.created_at:%F %T}")
        if options.dry_run:
            print(f"would revoke {len(rows)} token(s) (dry run)")
            return 0
        confirm(f"Revoke {len(rows)} token(s)?", assume_yes=options.yes)
        async with Database.opened(settings) as database:
            revoked = await UserService(database).revoke_token(options.prefix)
        print(f"revoked {revoked} token(s)")
        return 0
