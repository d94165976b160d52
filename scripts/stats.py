"""Print a summary of the database: sessions, messages, runs, approvals, busiest users.

    python -m project run scripts/stats.py [--top N] [--json]

Read-only; every figure is one aggregate query, so it stays cheap on a large database.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from tortoise.functions import Count, Min, Sum
from tortoise.models import Model

from core.clock import utcnow
from models import Approval, ApprovalStatus, ChatSession, Message, Run, User
from project.backup import json_default


async def by_status(model: type[Model]) -> dict[str, int]:
    """Row counts grouped by the model's `status`."""
    rows = await model.annotate(n=Count("id")).group_by("status").values("status", "n")
    return {str(row["status"]): row["n"] for row in sorted(rows, key=lambda r: str(r["status"]))}


async def busiest_users(top: int) -> list[dict[str, Any]]:
    """The users with the most messages across their sessions."""
    rows = (
        await ChatSession.annotate(total=Sum("message_count"), sessions=Count("id"))
        .group_by("owner_id")
        .order_by("-total")
        .limit(top)
        .values("owner_id", "total", "sessions")
    )
    names = dict(
        await User.filter(id__in=[r["owner_id"] for r in rows]).values_list("id", "username")
    )
    return [
        {"user": names[r["owner_id"]], "sessions": r["sessions"], "messages": r["total"] or 0}
        for r in rows
    ]


async def collect(top: int) -> dict[str, Any]:
    pending = Approval.filter(status=ApprovalStatus.PENDING)
    oldest = await pending.annotate(oldest=Min("created_at")).values("oldest")
    oldest_at = oldest[0]["oldest"] if oldest else None
    return {
        "users": await User.all().count(),
        "sessions": await by_status(ChatSession),
        "messages": await by_status(Message),
        "runs": await by_status(Run),
        "pending_approvals": await pending.count(),
        "oldest_pending_age_seconds": (
            round((utcnow() - oldest_at).total_seconds()) if oldest_at else None
        ),
        "busiest_users": await busiest_users(top),
    }


def render(stats: dict[str, Any]) -> None:
    print(f"users: {stats['users']}")
    for key in ("sessions", "messages", "runs"):
        parts = ", ".join(f"{status} {n}" for status, n in stats[key].items()) or "none"
        print(f"{key}: {sum(stats[key].values())} ({parts})")
    age = stats["oldest_pending_age_seconds"]
    oldest = f", oldest {age // 3600}h{age % 3600 // 60:02d}m old" if age is not None else ""
    print(f"pending approvals: {stats['pending_approvals']}{oldest}")
    print("busiest users:")
    for row in stats["busiest_users"]:
        print(f"  {row['user']:<24} {row['messages']:>8} messages in {row['sessions']} sessions")


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="stats.py", description="Summarise the database.")
    parser.add_argument("--top", type=int, default=5, help="how many busiest users (default 5)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    options = parser.parse_args(argv)
    stats = await collect(options.top)
    if options.json:
        print(json.dumps(stats, default=json_default))
    else:
        render(stats)
    return 0
