"""Routes that send a message to the agent: streamed over SSE, or awaited."""

from __future__ import annotations

from collections.abc import AsyncIterable
from typing import Annotated

from fastapi import APIRouter, Depends, Response, status
from fastapi.sse import EventSourceResponse, ServerSentEvent

from models import Run
from routes.agent_schemas import (
    AgentMessageCreate,
    AgentTurnRead,
    ApprovalRead,
    ClientToolCallRead,
    RunRead,
)
from routes.bodies import JsonBodyRoute
from routes.deps import CallerDep, EventLogDep, RunManagerDep, SettingsDep
from routes.limits import check_content
from routes.problems import BODY_ERRORS, ERROR_RESPONSES, problem_responses
from routes.schemas import MessageRead
from routes.sse import event_stream

router = APIRouter(
    prefix="/agent", tags=["agent"], responses=ERROR_RESPONSES, route_class=JsonBodyRoute
)


async def start_run(
    body: AgentMessageCreate, caller: CallerDep, runs: RunManagerDep, settings: SettingsDep
) -> Run:
    """Commit the user's message and start (or enqueue) its run (or answer the history)."""
    if body.message is None:
        assert body.session_id is not None  # the schema requires one of the two
        return await runs.answer(caller, session_id=body.session_id, on_busy=body.on_busy)
    check_content(settings, body.message, ["body", "message"])
    return await runs.start(
        caller,
        session_id=body.session_id,
        message=body.message,
        agent=body.agent,
        client_message_id=body.client_message_id,
        on_busy=body.on_busy,
    )


StartedRunDep = Annotated[Run, Depends(start_run)]


@router.post(
    "/message/stream",
    response_class=EventSourceResponse,
    responses={**problem_responses(404, 409), **BODY_ERRORS},
)
async def stream_agent_message(
    run: StartedRunDep, events: EventLogDep
) -> AsyncIterable[ServerSentEvent]:
    """Send a message and stream the run's events; reconnect via GET /runs/{id}/events."""
    async for event in event_stream(events, run.id, 0):
        yield event


@router.post(
    "/message",
    response_model=AgentTurnRead,
    responses={
        202: {
            "description": "The run waits for an approval or a client tool's result",
            "model": AgentTurnRead,
        },
        **problem_responses(404, 409),
        **BODY_ERRORS,
    },
)
async def send_agent_message(
    run: StartedRunDep, runs: RunManagerDep, response: Response
) -> AgentTurnRead:
    """Send a message and wait until the run finishes or pauses for someone."""
    turn = await runs.wait_for_turn(run)
    if turn.approval is not None or turn.client_tool_call is not None:
        response.status_code = status.HTTP_202_ACCEPTED
    call = turn.client_tool_call
    return AgentTurnRead(
        run=RunRead.model_validate(turn.run),
        messages=[MessageRead.model_validate(m) for m in turn.messages],
        approval=ApprovalRead.model_validate(turn.approval) if turn.approval else None,
        client_tool_call=ClientToolCallRead.of(call) if call else None,
    )
