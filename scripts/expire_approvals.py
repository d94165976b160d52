"""Mark pending approvals whose `expires_at` has passed as expired, now.

    python -m project run scripts/expire_approvals.py [--dry-run] [--yes]

The server expires approvals on its own; this is for an operator who wants
it done at once (e.g. while no server runs). It is one conditional update on
`status = pending AND expires_at < now`, so an approval decided meanwhile is
never overwritten. Runs waiting on these approvals are resumed by the server.
"""

from __future__ import annotations

import argparse

from tortoise.transactions import in_transaction

from models import Approval, ApprovalStatus
from project.scripting import add_destructive_arguments, confirm
from services.clock import utcnow

SHOWN = 10


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="expire_approvals.py", description="Expire pending approvals past expires_at."
    )
    add_destructive_arguments(parser)
    options = parser.parse_args(argv)
    now = utcnow()
    stale = Approval.filter(status=ApprovalStatus.PENDING, expires_at__lt=now)
    count = await stale.count()
    if not count:
        print("no pending approval has expired")
        return 0
    for approval in await stale.order_by("expires_at").limit(SHOWN):
        print(f"{approval.id}  {approval.tool:<16} expired {approval.expires_at:%F %T} UTC")
    if count > SHOWN:
        print(f"... and {count - SHOWN} more")
    if options.dry_run:
        print(f"would expire {count} approval(s)")
        return 0
    confirm(f"Expire {count} approval(s)?", assume_yes=options.yes)
    async with in_transaction():
        expired = await stale.update(status=ApprovalStatus.EXPIRED, decided_at=now)
    print(f"expired {expired} approval(s)")
    return 0
