"""The results clients send for the client-executed tool calls of a run."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel, Field

from routes.bodies import JsonBodyRoute
from routes.deps import ClientToolManagerDep, OwnedRunDep, SettingsDep
from routes.limits import check_tool_output
from routes.problems import BODY_ERRORS, ERROR_RESPONSES, problem_responses
from routes.schemas import JsonValue, Strict, Text

router = APIRouter(
    prefix="/runs", tags=["runs"], responses=ERROR_RESPONSES, route_class=JsonBodyRoute
)


class ToolResultCreate(Strict):
    """Body of POST /runs/{id}/tool-results."""

    tool_call_id: Annotated[Text, Field(min_length=1, max_length=64)]
    output: JsonValue


class ToolResultRead(BaseModel):
    """The result the run now resumes with."""

    run_id: UUID
    tool_call_id: str
    tool: str
    output: Any


@router.post(
    "/{run_id}/tool-results",
    response_model=ToolResultRead,
    responses={**problem_responses(404, 409), **BODY_ERRORS},
)
async def submit_tool_result(
    body: ToolResultCreate, run: OwnedRunDep, clients: ClientToolManagerDep, settings: SettingsDep
) -> ToolResultRead:
    """Answer a client tool call the run waits for; the first result wins."""
    check_tool_output(settings, body.output, ["body", "output"])
    call = await clients.submit(run, body.tool_call_id, body.output)
    return ToolResultRead(
        run_id=run.id, tool_call_id=call.call_id, tool=call.tool, output=call.result
    )
