"""List API users with their live token prefixes, for audits and `revoketoken`."""

from __future__ import annotations

import argparse
from collections import defaultdict
from uuid import UUID

from tortoise.functions import Count

from core.settings import Settings
from models import ApiToken, ChatSession, User
from project.management.base import BaseCommand


class Command(BaseCommand):
    help = "List users, their roles, live token prefixes and session counts."

    async def handle(self, options: argparse.Namespace, settings: Settings) -> int:
        users = await User.all().order_by("username")
        prefixes: dict[UUID, list[str]] = defaultdict(list)
        for user_id, prefix in await ApiToken.filter(revoked_at__isnull=True).values_list(
            "user_id", "prefix"
        ):
            prefixes[user_id].append(prefix)
        sessions = {
            row["owner_id"]: row["n"]
            for row in await ChatSession.annotate(n=Count("id"))
            .group_by("owner_id")
            .values("owner_id", "n")
        }
        width = max([len(user.username) for user in users] + [8])
        print(f"{'USERNAME':<{width}}  ROLE   CREATED           SESSIONS  LIVE TOKENS")
        for user in users:
            role = "admin" if user.is_admin else "user"
            tokens = ", ".join(sorted(prefixes[user.id])) or "-"
            print(
                f"{user.username:<{width}}  {role:<5}  {user.created_at:%Y-%m-%d %H:%M}  "
                f"{sessions.get(user.id, 0):>8}  {tokens}"
            )
        print(f"{len(users)} user(s)")
        return 0
