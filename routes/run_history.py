"""What ran and what it used: a session's runs, and token usage per session and user."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel

from routes.agent_schemas import RunPage, RunRead
from routes.deps import CallerDep, ReadableSessionDep, RunHistoryDep
from routes.problems import ERROR_RESPONSES, problem_responses
from services.runs import UsageLine

router = APIRouter(tags=["runs"], responses=ERROR_RESPONSES)


class UsageRead(BaseModel):
    """Tokens the providers reported, and runs counted."""

    prompt_tokens: int
    completion_tokens: int
    runs: int

    @classmethod
    def of(cls, line: UsageLine) -> UsageRead:
        """The API view of one usage line."""
        return cls(
            prompt_tokens=line.prompt_tokens,
            completion_tokens=line.completion_tokens,
            runs=line.runs,
        )


class UserUsageRead(UsageRead):
    """One user's usage."""

    user_id: UUID


class SessionUsageRead(UsageRead):
    """One session's usage."""

    session_id: UUID


class UsageReportRead(BaseModel):
    """Usage of the runs created since `since`."""

    since: datetime | None
    total: UsageRead
    users: list[UserUsageRead]
    sessions: list[SessionUsageRead]


@router.get(
    "/sessions/{session_id}/runs", response_model=RunPage, responses=problem_responses(400, 404)
)
async def list_session_runs(
    session: ReadableSessionDep,
    history: RunHistoryDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> RunPage:
    """List a session's runs, newest first."""
    page = await history.runs(session, limit=limit, cursor=cursor)
    return RunPage(
        items=[RunRead.model_validate(r) for r in page.items], next_cursor=page.next_cursor
    )


@router.get("/usage", response_model=UsageReportRead)
async def read_usage(
    caller: CallerDep,
    history: RunHistoryDep,
    since: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> UsageReportRead:
    """Tokens used by the runs created since `since`, in total, per user and per session."""
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)  # a time without offset is UTC, as every time here
    report = await history.usage(caller, since=since, limit=limit)
    return UsageReportRead(
        since=report.since,
        total=UsageRead.of(report.total),
        users=[
            UserUsageRead(user_id=uid, **UsageRead.of(line).model_dump())
            for uid, line in report.users
        ],
        sessions=[
            SessionUsageRead(session_id=sid, **UsageRead.of(line).model_dump())
            for sid, line in report.sessions
        ],
    )
