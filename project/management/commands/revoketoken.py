"""Revoke API tokens so a leaked token stops working at once.

Name the token by its prefix (the first 12 characters, which `listusers`
shows), or paste the whole token: it is looked up by its hash, as a request
would be, and is never printed.
"""

from __future__ import annotations

import argparse

from core.database import Database
from core.errors import AppError
from core.settings import Settings
from project.management.base import BaseCommand, CommandError
from project.management.terminal import add_destructive_arguments, confirm
from services import UserService
from services.auth.users import PREFIX_CHARS

# A prefix of the shape `listusers` prints ("tp_" and 9 more characters).
EXAMPLE_PREFIX = "tp_AbC123xyZ"


class Command(BaseCommand):
    help = "Revoke a live API token, named by its prefix or by the whole token."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "token",
            metavar="TOKEN_OR_PREFIX",
            help=f"the token's prefix as `listusers` shows it, e.g. {EXAMPLE_PREFIX}, "
            "or the whole (leaked) token",
        )
        add_destructive_arguments(parser)

    async def handle(self, options: argparse.Namespace, settings: Settings) -> int:
        async with Database.opened(settings) as database:
            users = UserService(database)
            try:
                rows = await users.live_tokens(options.token)
            except AppError as exc:
                raise CommandError(exc.detail) from None
            if not rows:
                raise CommandError(f"no live token is named {_shown(options.token)}")
            for token in rows:
                print(
                    f"{token.prefix}  user={token.user.username}  created={token.created_at:%F %T}"
                )
            if options.dry_run:
                print(f"would revoke {len(rows)} token(s) (dry run)")
                return 0
            confirm(f"Revoke {len(rows)} token(s)?", assume_yes=options.yes)
            revoked = await users.revoke_token(options.token)
        print(f"revoked {revoked} token(s)")
        return 0


def _shown(token_or_prefix: str) -> str:
    """What may be printed of the argument: a whole token is a secret, its prefix is not."""
    if len(token_or_prefix) > PREFIX_CHARS:
        return f"by the token starting {token_or_prefix[:PREFIX_CHARS]!r}"
    return f"by the prefix {token_or_prefix!r}"
