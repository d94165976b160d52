"""Mark pending approvals whose `expires_at` has passed as expired, now.

    python -m project run scripts/expire_approvals.py [--dry-run] [--yes]

The server expires approvals on its own; this is for an operator who wants
it done at once (e.g. while no server runs). Each approval is expired through
HITLManager, exactly as the sweeper does: a conditional update on `status =
pending` (an approval decided meanwhile is never overwritten), the tool call
marked rejected and `approval_decided` logged; the server's sweeper then
resumes the waiting runs.
"""

from __future__ import annotations

import argparse

from core.clock import utcnow
from models import Approval, ApprovalStatus
from project.scripting import add_destructive_arguments, confirm, services

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
    expired = await services().hitl.expire_due()
    print(f"expired {expired} approval(s)")
    return 0
