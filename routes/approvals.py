"""Routes for human-in-the-loop approvals."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from models import ApprovalStatus
from routes.agent_schemas import ApprovalPage, ApprovalRead, DecisionCreate
from routes.bodies import JsonBodyRoute
from routes.deps import (
    CallerDep,
    HITLManagerDep,
    OwnedApprovalDep,
    ReadableApprovalDep,
)
from routes.problems import BODY_ERRORS, ERROR_RESPONSES, problem_responses

router = APIRouter(
    prefix="/approvals", tags=["approvals"], responses=ERROR_RESPONSES, route_class=JsonBodyRoute
)


@router.get("", response_model=ApprovalPage, responses=problem_responses(400))
async def list_approvals(
    caller: CallerDep,
    hitl: HITLManagerDep,
    status: ApprovalStatus | None = None,
    session_id: UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> ApprovalPage:
    """List approvals across the caller's sessions, newest first."""
    page = await hitl.list(caller, status=status, session_id=session_id, limit=limit, cursor=cursor)
    return ApprovalPage(
        items=[ApprovalRead.model_validate(a) for a in page.items], next_cursor=page.next_cursor
    )


@router.get("/{approval_id}", response_model=ApprovalRead, responses=problem_responses(404))
async def read_approval(approval: ReadableApprovalDep) -> ApprovalRead:
    """Read one approval."""
    return ApprovalRead.model_validate(approval)


@router.post(
    "/{approval_id}/decision",
    response_model=ApprovalRead,
    responses={**problem_responses(404, 409), **BODY_ERRORS},
)
async def decide_approval(
    body: DecisionCreate, approval: OwnedApprovalDep, caller: CallerDep, hitl: HITLManagerDep
) -> ApprovalRead:
    """Approve (optionally with edited arguments) or reject; a second decision is a 409."""
    decided = await hitl.decide(approval, caller, body.decision, body.arguments, body.comment)
    return ApprovalRead.model_validate(decided)
