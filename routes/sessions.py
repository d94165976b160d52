"""Routes for chat sessions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from models import SessionStatus
from routes.bodies import JsonBodyRoute
from routes.deps import (
    CallerDep,
    OwnedSessionDep,
    ReadableSessionDep,
    RunManagerDep,
    SessionManagerDep,
    SettingsDep,
)
from routes.limits import check_metadata, check_title
from routes.problems import BODY_ERRORS, ERROR_RESPONSES, problem_responses
from routes.schemas import SessionCreate, SessionPage, SessionRead, SessionUpdate

router = APIRouter(
    prefix="/sessions", tags=["sessions"], responses=ERROR_RESPONSES, route_class=JsonBodyRoute
)


@router.post(
    "", response_model=SessionRead, status_code=status.HTTP_201_CREATED, responses=BODY_ERRORS
)
async def create_session(
    body: SessionCreate, caller: CallerDep, sessions: SessionManagerDep, settings: SettingsDep
) -> SessionRead:
    """Create a chat session."""
    check_title(settings, body.title, ["body", "title"])
    check_metadata(settings, body.metadata, ["body", "metadata"])
    session = await sessions.create(
        caller, title=body.title, agent=body.agent, metadata=body.metadata
    )
    return SessionRead.model_validate(session)


@router.get("", response_model=SessionPage, responses=problem_responses(400))
async def list_sessions(
    caller: CallerDep,
    sessions: SessionManagerDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    status: SessionStatus | None = None,
) -> SessionPage:
    """List the caller's sessions, most recently updated first."""
    page = await sessions.list(caller, limit=limit, cursor=cursor, status=status)
    return SessionPage(
        items=[SessionRead.model_validate(s) for s in page.items], next_cursor=page.next_cursor
    )


@router.get("/{session_id}", response_model=SessionRead, responses=problem_responses(404))
async def read_session(session: ReadableSessionDep) -> SessionRead:
    """Read one session."""
    return SessionRead.model_validate(session)


@router.patch(
    "/{session_id}",
    response_model=SessionRead,
    responses={**problem_responses(404), **BODY_ERRORS},
)
async def update_session(
    body: SessionUpdate,
    session: OwnedSessionDep,
    sessions: SessionManagerDep,
    settings: SettingsDep,
) -> SessionRead:
    """Update a session's title, metadata or status."""
    check_title(settings, body.title, ["body", "title"])
    check_metadata(settings, body.metadata, ["body", "metadata"])
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    return SessionRead.model_validate(await sessions.update(session, changes))


@router.delete(
    "/{session_id}", status_code=status.HTTP_204_NO_CONTENT, responses=problem_responses(404)
)
async def delete_session(
    session: OwnedSessionDep, sessions: SessionManagerDep, runs: RunManagerDep
) -> Response:
    """Delete a session with its messages, context, runs and approvals (its forks stay whole)."""
    await runs.stop_session_runs(session.id)
    await sessions.delete(session)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
