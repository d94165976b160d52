"""Routes for a session's agent context (optimistic concurrency with ETags)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response, status

from core.errors import ErrorCode, PreconditionFailed, PreconditionRequired
from routes.bodies import JsonBodyRoute
from routes.deps import ContextManagerDep, OwnedSessionDep, ReadableSessionDep, SettingsDep
from routes.etags import etag, none_match, strong_versions
from routes.limits import check_context
from routes.problems import BODY_ERRORS, ERROR_RESPONSES, problem_responses
from routes.schemas import ContextRead, ContextUpdate

router = APIRouter(
    prefix="/sessions/{session_id}/context",
    tags=["context"],
    responses=ERROR_RESPONSES,
    route_class=JsonBodyRoute,
)


def if_match_versions(value: str) -> list[int] | None:
    """The versions an If-Match names (None for `*`), or raise 412 if it names none."""
    versions = strong_versions(value)
    if versions == []:
        raise PreconditionFailed(
            "If-Match does not name a context version (weak tags never match).",
            code=ErrorCode.VERSION_CONFLICT,
        )
    return versions


@router.get(
    "",
    response_model=ContextRead,
    responses={
        304: {"description": "If-None-Match names the current version; no body"},
        **problem_responses(404),
    },
)
async def read_context(
    session: ReadableSessionDep,
    contexts: ContextManagerDep,
    response: Response,
    if_none_match: Annotated[str | None, Header(max_length=1024)] = None,
) -> ContextRead | Response:
    """Read the session's agent context; the ETag names its version (304 if unchanged)."""
    context = await contexts.get(session.id)
    tag = etag(context.version)
    if if_none_match is not None and none_match(if_none_match, context.version):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers={"ETag": tag})
    response.headers["ETag"] = tag
    return ContextRead.model_validate(context)


@router.put(
    "",
    response_model=ContextRead,
    responses={**problem_responses(404, 412, 428), **BODY_ERRORS},
)
async def replace_context(
    body: ContextUpdate,
    session: OwnedSessionDep,
    contexts: ContextManagerDep,
    settings: SettingsDep,
    response: Response,
    if_match: Annotated[str | None, Header(max_length=1024)] = None,
) -> ContextRead:
    """Replace the context; requires If-Match with the ETag last read."""
    if if_match is None:
        raise PreconditionRequired("Send If-Match with the context's ETag.")
    check_context(settings, body.data, ["body", "data"])
    context = await contexts.replace(session.id, body.data, if_match_versions(if_match))
    response.headers["ETag"] = etag(context.version)
    return ContextRead.model_validate(context)
