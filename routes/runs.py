"""Routes for agent runs: status, event stream (resumable) and cancel."""

from __future__ import annotations

from collections.abc import AsyncIterable
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Response, status
from fastapi.sse import EventSourceResponse, ServerSentEvent

from routes.agent_schemas import RunRead
from routes.bodies import JsonBodyRoute
from routes.deps import EventLogDep, OwnedRunDep, ReadableRunDep, RunManagerDep
from routes.problems import ERROR_RESPONSES, problem_responses
from routes.sse import event_stream, resume_position

router = APIRouter(
    prefix="/runs", tags=["runs"], responses=ERROR_RESPONSES, route_class=JsonBodyRoute
)


@router.get("/{run_id}", response_model=RunRead, responses=problem_responses(404))
async def read_run(run: ReadableRunDep) -> RunRead:
    """Read a run's status."""
    return RunRead.model_validate(run)


async def resume_after(
    run: ReadableRunDep,
    events: EventLogDep,
    response: Response,
    last_event_id: Annotated[str | None, Header(max_length=32)] = None,
    after: Annotated[str | None, Query(max_length=32)] = None,
) -> int:
    """The event id to resume after, from `Last-Event-ID` or `?after=`.

    Past the end of a finished run the answer is 204 with no events: an empty
    200 would make a browser's EventSource reconnect forever.
    """
    position = resume_position(last_event_id, after)
    if position > 0 and await events.is_over(run.id, position):
        response.status_code = status.HTTP_204_NO_CONTENT
    return position


@router.get(
    "/{run_id}/events",
    response_class=EventSourceResponse,
    responses={
        204: {"description": "The run has ended and nothing follows the position"},
        **problem_responses(400, 404),
    },
)
async def run_events(
    run: ReadableRunDep,
    events: EventLogDep,
    response: Response,
    after: Annotated[int, Depends(resume_after)],
) -> AsyncIterable[ServerSentEvent]:
    """Replay the run's events after Last-Event-ID, then follow live until it ends."""
    if response.status_code == status.HTTP_204_NO_CONTENT:
        return
    async for event in event_stream(events, run.id, after):
        yield event


@router.post("/{run_id}/cancel", response_model=RunRead, responses=problem_responses(404, 409))
async def cancel_run(run: OwnedRunDep, runs: RunManagerDep) -> RunRead:
    """Cancel a queued, running or waiting run."""
    return RunRead.model_validate(await runs.cancel(run))
