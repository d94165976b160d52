"""Routes for agent runs: status, event stream (resumable) and cancel."""

from __future__ import annotations

from collections.abc import AsyncIterable
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query
from fastapi.sse import EventSourceResponse, ServerSentEvent

from routes.agent_schemas import RunRead
from routes.deps import EventLogDep, OwnedRunDep, ReadableRunDep, RunManagerDep
from routes.problems import ERROR_RESPONSES
from routes.sse import event_stream, resume_position

router = APIRouter(prefix="/runs", tags=["runs"], responses=ERROR_RESPONSES)


@router.get("/{run_id}", response_model=RunRead)
async def read_run(run: ReadableRunDep) -> RunRead:
    """Read a run's status."""
    return RunRead.model_validate(run)


async def resume_after(
    last_event_id: Annotated[str | None, Header(max_length=32)] = None,
    after: Annotated[str | None, Query(max_length=32)] = None,
) -> int:
    """The event id to resume after, from `Last-Event-ID` or `?after=`."""
    return resume_position(last_event_id, after)


@router.get("/{run_id}/events", response_class=EventSourceResponse)
async def run_events(
    run: ReadableRunDep,
    events: EventLogDep,
    after: Annotated[int, Depends(resume_after)],
) -> AsyncIterable[ServerSentEvent]:
    """Replay the run's events after Last-Event-ID, then follow live until it ends."""
    async for event in event_stream(events, run.id, after):
        yield event


@router.post("/{run_id}/cancel", response_model=RunRead)
async def cancel_run(run: OwnedRunDep, runs: RunManagerDep) -> RunRead:
    """Cancel a queued, running or waiting run."""
    return RunRead.model_validate(await runs.cancel(run))
