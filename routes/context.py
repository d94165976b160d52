"""Routes for a session's agent context (optimistic concurrency with ETags)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response

from core.errors import ErrorCode, PreconditionFailed, PreconditionRequired
from routes.deps import ContextManagerDep, OwnedSessionDep, ReadableSessionDep, SettingsDep
from routes.limits import check_context
from routes.problems import ERROR_RESPONSES, problem_responses
from routes.schemas import ContextRead, ContextUpdate

router = APIRouter(
    prefix="/sessions/{session_id}/context", tags=["context"], responses=ERROR_RESPONSES
)


def etag(version: int) -> str:
    """Return the strong ETag of a context version."""
    return f'"{version}"'


def parse_if_match(value: str) -> int | None:
    """Return the version an If-Match names (None for `*`), or raise 412."""
    value = value.strip()
    if value == "*":
        return None
    candidate = value.removeprefix("W/").strip('"')
    if not candidate.isdigit() or len(candidate) > 10:
        raise PreconditionFailed(
            "If-Match does not name a context version.", code=ErrorCode.VERSION_CONFLICT
        )
    return int(candidate)


@router.get("", response_model=ContextRead)
async def read_context(
    session: ReadableSessionDep, contexts: ContextManagerDep, response: Response
) -> ContextRead:
    """Read the session's agent context; the ETag names its version."""
    context = await contexts.get(session.id)
    response.headers["ETag"] = etag(context.version)
    return ContextRead.model_validate(context)


@router.put(
    "",
    response_model=ContextRead,
    responses=problem_responses(412, 428),
)
async def replace_context(
    body: ContextUpdate,
    session: OwnedSessionDep,
    contexts: ContextManagerDep,
    settings: SettingsDep,
    response: Response,
    if_match: Annotated[str | None, Header(max_length=64)] = None,
) -> ContextRead:
    """Replace the context; requires If-Match with the ETag last read."""
    if if_match is None:
        raise PreconditionRequired("Send If-Match with the context's ETag.")
    check_context(settings, body.data, ["body", "data"])
    context = await contexts.replace(session.id, body.data, parse_if_match(if_match))
    response.headers["ETag"] = etag(context.version)
    return ContextRead.model_validate(context)
