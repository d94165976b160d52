"""RunHistory: what ran (a session's runs) and what it used (tokens per session and user)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from models import ChatSession, Run
from services.auth import Caller
from services.common.pagination import Page, newest_first


@dataclass(frozen=True, slots=True)
class UsageLine:
    """Tokens and runs of one session, one user, or everything."""

    prompt_tokens: int
    completion_tokens: int
    runs: int


@dataclass(frozen=True, slots=True)
class UsageReport:
    """Usage of the runs created since a time, in total, per user and per session."""

    since: datetime | None
    total: UsageLine
    users: list[tuple[UUID, UsageLine]]
    sessions: list[tuple[UUID, UsageLine]]


class RunHistory:
    """Read-only views of past and present runs."""

    async def runs(self, session: ChatSession, *, limit: int, cursor: str | None) -> Page[Run]:
        """The session's runs, newest first, keyset-paged."""
        return await newest_first(Run.filter(session_id=session.id), "created_at", limit, cursor)

    async def usage(self, caller: Caller, *, since: datetime | None, limit: int) -> UsageReport:
        """Usage of the caller's runs (every user's, for an admin) created since `since`."""
        owner = None if caller.sees_all(write=False) else caller.user_id
        users = [_line(row) for row in await Run.usage_by_owner(since, owner)]
        sessions = [_line(row) for row in await Run.usage_by_session(since, owner, limit)]
        total = UsageLine(
            prompt_tokens=sum(line.prompt_tokens for _, line in users),
            completion_tokens=sum(line.completion_tokens for _, line in users),
            runs=sum(line.runs for _, line in users),
        )
        return UsageReport(since=since, total=total, users=users, sessions=sessions)


def _line(row: dict[str, Any]) -> tuple[UUID, UsageLine]:
    usage = UsageLine(row["prompt_tokens"], row["completion_tokens"], row["runs"])
    return UUID(str(row["key"])), usage
