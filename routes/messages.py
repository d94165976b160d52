"""Routes for a session's message history."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from routes.bodies import JsonBodyRoute
from routes.deps import OwnedSessionDep, ReadableSessionDep, SessionManagerDep, SettingsDep
from routes.limits import check_content, check_metadata
from routes.problems import BODY_ERRORS, ERROR_RESPONSES, problem_responses
from routes.schemas import MessageCreate, MessagePage, MessageRead
from services import MessageDraft

router = APIRouter(
    prefix="/sessions/{session_id}/messages",
    tags=["messages"],
    responses=ERROR_RESPONSES,
    route_class=JsonBodyRoute,
)

SeqParam = Annotated[int | None, Query(ge=0, le=2**31 - 1)]


@router.get("", response_model=MessagePage, responses=problem_responses(400, 404))
async def list_messages(
    session: ReadableSessionDep,
    sessions: SessionManagerDep,
    after_seq: SeqParam = None,
    before_seq: SeqParam = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> MessagePage:
    """Page the history in ascending seq order (after_seq, or the page before before_seq)."""
    page = await sessions.messages(
        session, limit=limit, after_seq=after_seq, before_seq=before_seq, cursor=cursor
    )
    return MessagePage.model_validate({"items": page.items, "next_cursor": page.next_cursor})


@router.post(
    "",
    response_model=MessageRead,
    status_code=status.HTTP_201_CREATED,
    responses={
        **problem_responses(404, 409),
        **BODY_ERRORS,
        200: {
            "description": "Replay of an earlier request with this client_message_id",
            "model": MessageRead,
        },
    },
)
async def append_message(
    body: MessageCreate,
    session: OwnedSessionDep,
    sessions: SessionManagerDep,
    settings: SettingsDep,
    response: Response,
) -> MessageRead:
    """Append a message without running the agent; answered once it is committed."""
    check_content(settings, body.content, ["body", "content"])
    check_metadata(settings, body.metadata, ["body", "metadata"])
    draft = MessageDraft(
        role=body.role,
        content=body.content,
        client_message_id=body.client_message_id,
        metadata=body.metadata,
    )
    result = await sessions.append(session, draft)
    if not result.created:
        response.status_code = status.HTTP_200_OK
    return MessageRead.model_validate(result.message)
