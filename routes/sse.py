"""Server-Sent Events helpers: event encoding and the resume position."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import UUID

from fastapi.sse import ServerSentEvent

from core.errors import BadRequest, ErrorCode
from services.events import EventLog

MAX_EVENT_ID = 2**31 - 1


def resume_position(last_event_id: str | None, after: str | None) -> int:
    """Parse `Last-Event-ID` (or `?after=`): an integer >= 0, else a 400 problem."""
    raw = last_event_id if last_event_id is not None else after
    if raw is None or raw.strip() == "":
        return 0
    value = raw.strip(" \t")
    # ASCII digits only: str.isdigit() also accepts "²" or "١", which int() rejects or reads.
    if not (value.isascii() and value.isdigit()) or int(value) > MAX_EVENT_ID:
        raise BadRequest(
            "Last-Event-ID must be a non-negative integer event id.",
            code=ErrorCode.INVALID_LAST_EVENT_ID,
        )
    return int(value)


async def event_stream(
    events: EventLog, run_id: UUID, after: int
) -> AsyncIterator[ServerSentEvent]:
    """Replay and follow a run's log as SSE events whose ids are the event seqs."""
    async for event in events.follow(run_id, after):
        yield ServerSentEvent(event=event.type, id=str(event.seq), data=event.data)
