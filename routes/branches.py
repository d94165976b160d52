"""Routes for conversation branches: fork a session, edit a message, regenerate a reply."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from routes.bodies import JsonBodyRoute
from routes.deps import (
    BranchManagerDep,
    CallerDep,
    OwnedSessionDep,
    ReadableSessionDep,
    SettingsDep,
)
from routes.limits import check_content, check_metadata, check_title
from routes.problems import BODY_ERRORS, ERROR_RESPONSES, problem_responses
from routes.schemas import ForkCreate, MessageEdit, SessionPage, SessionRead

router = APIRouter(
    prefix="/sessions/{session_id}",
    tags=["branches"],
    responses=ERROR_RESPONSES,
    route_class=JsonBodyRoute,
)


@router.post(
    "/fork",
    response_model=SessionRead,
    status_code=status.HTTP_201_CREATED,
    responses={**problem_responses(404), **BODY_ERRORS},
)
async def fork_session(
    body: ForkCreate, session: OwnedSessionDep, branches: BranchManagerDep, settings: SettingsDep
) -> SessionRead:
    """Fork the session after message `at_seq`: a new session sharing that history."""
    check_title(settings, body.title, ["body", "title"])
    check_metadata(settings, body.metadata, ["body", "metadata"])
    fork = await branches.fork(
        session, at_seq=body.at_seq, title=body.title, metadata=body.metadata
    )
    return SessionRead.model_validate(fork)


@router.post(
    "/messages/{seq}/edit",
    response_model=SessionRead,
    status_code=status.HTTP_201_CREATED,
    responses={**problem_responses(404, 409), **BODY_ERRORS},
)
async def edit_message(
    body: MessageEdit,
    session: OwnedSessionDep,
    branches: BranchManagerDep,
    settings: SettingsDep,
    seq: Annotated[int, Path(ge=1, le=2**31 - 1)],
) -> SessionRead:
    """Fork the session before user message `seq`, with that message's content replaced."""
    check_content(settings, body.content, ["body", "content"])
    return SessionRead.model_validate(await branches.edit(session, seq, body.content))


@router.post(
    "/regenerate",
    response_model=SessionRead,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(404, 409),
)
async def regenerate_reply(session: OwnedSessionDep, branches: BranchManagerDep) -> SessionRead:
    """Fork the session at the user message its last assistant reply answers."""
    return SessionRead.model_validate(await branches.regenerate(session))


@router.get("/branches", response_model=SessionPage, responses=problem_responses(400, 404))
async def list_branches(
    session: ReadableSessionDep,
    caller: CallerDep,
    branches: BranchManagerDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> SessionPage:
    """The session's direct forks, most recently updated first."""
    page = await branches.forks(caller, session, limit=limit, cursor=cursor)
    return SessionPage(
        items=[SessionRead.model_validate(s) for s in page.items], next_cursor=page.next_cursor
    )
