"""Delete chat sessions idle for more than N days; messages, runs and approvals cascade.

    python -m project run scripts/purge_sessions.py --days 90 [--user NAME] [--dry-run] [--yes]

A session counts as idle by its `updated_at`. Sessions with an active run
are skipped. Deletion goes through SessionManager, one session at a time: a
session that forks still read from is hidden and kept until its last fork
goes (see docs/branches.md).
"""

from __future__ import annotations

import argparse
from datetime import timedelta

from tortoise.expressions import Subquery
from tortoise.functions import Max, Min, Sum

from core.clock import utcnow
from models import ChatSession, Run
from project.scripting import add_destructive_arguments, confirm, services

BATCH = 500


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="purge_sessions.py", description="Delete sessions idle for more than N days."
    )
    parser.add_argument("--days", type=int, required=True, help="idle for more than DAYS")
    parser.add_argument("--user", help="only this user's sessions")
    add_destructive_arguments(parser)
    options = parser.parse_args(argv)
    if options.days < 0:
        parser.error("--days must be 0 or more")
    return options


async def main(argv: list[str]) -> int:
    options = parse(argv)
    cutoff = utcnow() - timedelta(days=options.days)
    busy = Subquery(Run.filter(active_session_id__isnull=False).values("session_id"))
    stale = ChatSession.filter(updated_at__lt=cutoff, deleted_at__isnull=True).exclude(id__in=busy)
    if options.user:
        stale = stale.filter(owner__username=options.user)
    summary = await stale.annotate(
        messages=Sum("message_count"), oldest=Min("updated_at"), newest=Max("updated_at")
    ).values("messages", "oldest", "newest")
    count = await stale.count()
    if not count:
        print(f"no session idle since {cutoff:%Y-%m-%d %H:%M} UTC")
        return 0
    row = summary[0]
    verb = "would delete" if options.dry_run else "deleting"
    print(
        f"{verb} {count} session(s) with {row['messages'] or 0} message(s), "
        f"idle since {row['oldest']:%Y-%m-%d} .. {row['newest']:%Y-%m-%d}"
    )
    if options.dry_run:
        return 0
    confirm(f"Delete {count} session(s) and everything in them?", assume_yes=options.yes)
    deleted = 0
    while batch := await stale.order_by("id").limit(BATCH):
        for session in batch:
            await services().sessions.delete(session)
        deleted += len(batch)
    print(f"deleted {deleted} session(s)")
    return 0
