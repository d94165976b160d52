"""The durable run event log: batched appends, replay, and live following.

Every SSE event is a RunEvent row first. `emit` returns only after the row is
committed (then the hub wakes followers), so a client never sees an event the
database could lose. Seqs are allocated in the database by bumping
`Run.event_count` in the same transaction, so any process may append.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from tortoise.transactions import in_transaction

from core.clock import utcnow
from core.database import Database
from core.errors import UNAVAILABLE_ERRORS, ErrorCode, NotFound
from core.outages import RepeatedWarning
from models import TERMINAL_EVENT_TYPES, EventType, Message, Run, RunEvent
from models.locks import lock_in_id_order
from services.common.group_commit import BatchObserver, GroupCommitter
from services.events.hub import StoredEvent, StreamHub
from services.events.notifier import notify_in_transaction

log = logging.getLogger("terrapin.events")

REPLAY_PAGE = 500


class RunAlreadyEnded(Exception):
    """The run's log already has its terminal event; nothing more is appended."""

    def __init__(self, run_id: UUID) -> None:
        super().__init__(f"run {run_id} has already ended")
        self.run_id = run_id


@dataclass(frozen=True, slots=True)
class TextCheckpoint:
    """A streaming message's text so far, stored with the event that carries its delta."""

    message_id: UUID
    content: str


@dataclass(frozen=True, slots=True)
class EventDraft:
    """An event to append to a run's log."""

    run_id: UUID
    type: EventType
    data: dict[str, Any]
    checkpoint: TextCheckpoint | None = None


EventOutcome = StoredEvent | BaseException


class EventLog:
    """Append events durably and stream them to any number of followers."""

    def __init__(
        self,
        database: Database,
        hub: StreamHub,
        poll_seconds: float,
        *,
        max_batch: int,
        max_wait_seconds: float,
        observer: BatchObserver | None = None,
        on_run_finished: Callable[[str], None] | None = None,
    ) -> None:
        self._database = database
        self.writer: GroupCommitter[EventDraft, StoredEvent] = GroupCommitter(
            self._write_batch,
            max_batch=max_batch,
            max_wait_seconds=max_wait_seconds,
            name="event-writer",
            observer=observer,
        )
        self.hub = hub
        self.poll_seconds = poll_seconds
        # Set when the server shuts down: followers stop once they are caught up.
        self.draining = False
        # Called with the final status of every run that ends here (metrics).
        self._on_run_finished = on_run_finished
        # Every open stream polls during an outage: one line per interval for all of them.
        self._follow_failed = RepeatedWarning(
            log, "following runs: database unavailable, streams retry"
        )

    async def emit(
        self,
        run_id: UUID,
        type_: EventType,
        data: dict[str, Any],
        checkpoint: TextCheckpoint | None = None,
    ) -> StoredEvent:
        """Append one event (and its text checkpoint); returns once committed and published."""
        return await self.writer.submit(EventDraft(run_id, type_, data, checkpoint))

    async def append_in_transaction(
        self, drafts: Sequence[EventDraft], *, runs_locked: bool = False
    ) -> list[EventOutcome]:
        """Append events inside the caller's transaction; `publish` them after its commit.

        `runs_locked`: the transaction already holds the row locks of the drafts' runs.
        """
        outcomes: list[EventOutcome] = [
            NotFound("Run not found.", code=ErrorCode.RUN_NOT_FOUND) for _ in drafts
        ]
        run_ids = {draft.run_id for draft in drafts}
        ending = {d.run_id for d in drafts if d.type.is_terminal}
        if len(run_ids) > 1 or (ending and not runs_locked):
            # Several runs are locked in id order, even if the caller holds them
            # (the count bump would lock them in scan order), and a run's end is
            # checked under its lock. Otherwise the bump's UPDATE is the lock: the
            # run row is still the first row locked.
            await lock_in_id_order(self._database, Run, run_ids)
        # A run's log has at most one terminal event: a second end (say, the
        # sweeper's repair racing a slow canceller) is refused, not logged.
        ended = await RunEvent.ended_runs(self._database, ending)
        per_run: dict[UUID, list[int]] = defaultdict(list)
        for index, draft in enumerate(drafts):
            if draft.type.is_terminal:
                if draft.run_id in ended:
                    outcomes[index] = RunAlreadyEnded(draft.run_id)
                    continue
                ended.add(draft.run_id)
            per_run[draft.run_id].append(index)
        if not per_run:
            return outcomes
        now = utcnow()
        increments = {run_id: len(members) for run_id, members in per_run.items()}
        counts = await Run.allocate_event_seqs(self._database, increments, now)
        rows: list[RunEvent] = []
        for run_id, members in per_run.items():
            if run_id not in counts:
                continue
            first = counts[run_id] - len(members) + 1
            for offset, index in enumerate(members):
                draft, seq = drafts[index], first + offset
                rows.append(
                    RunEvent(
                        run_id=run_id, seq=seq, type=draft.type, data=draft.data, created_at=now
                    )
                )
                outcomes[index] = StoredEvent(run_id, seq, str(draft.type), draft.data)
        if rows:
            await RunEvent.bulk_create(rows)
            await self._store_checkpoints(drafts, outcomes)
            stored = [outcome for outcome in outcomes if isinstance(outcome, StoredEvent)]
            await notify_in_transaction(self._database, stored, self.hub.origin)
        return outcomes

    async def _store_checkpoints(
        self, drafts: Sequence[EventDraft], outcomes: Sequence[EventOutcome]
    ) -> None:
        # In the events' transaction: a stored message never holds less text than its logged
        # deltas, whenever the process dies.
        latest: dict[UUID, str] = {}
        for draft, outcome in zip(drafts, outcomes, strict=True):
            if draft.checkpoint is not None and isinstance(outcome, StoredEvent):
                latest[draft.checkpoint.message_id] = draft.checkpoint.content
        now = utcnow()
        for message_id, content in latest.items():
            await Message.checkpoint_text(self._database, message_id, content, now)

    async def write(self, drafts: Sequence[EventDraft]) -> list[EventOutcome]:
        """Append a batch in its own transaction (not published: see `_write_batch`)."""
        async with in_transaction():
            return await self.append_in_transaction(drafts)

    async def _write_batch(self, drafts: Sequence[EventDraft]) -> list[EventOutcome]:
        """Commit a batch, then wake followers.

        Published here, not by `emit`'s caller: a batch commits even when the
        caller was cancelled meanwhile, and the listener skips this process's
        own notifications, so nothing else would wake the local followers.
        """
        outcomes = await self.write(drafts)
        self.publish(outcomes)
        return outcomes

    def publish(self, events: Sequence[EventOutcome]) -> None:
        """Wake followers for events just committed (by `emit` or the caller's transaction)."""
        stored = [event for event in events if isinstance(event, StoredEvent)]
        self.hub.publish(stored)
        for event in stored:
            if event.type in TERMINAL_EVENT_TYPES and self._on_run_finished is not None:
                self._on_run_finished(str(event.data.get("status", "unknown")))

    async def read(self, run_id: UUID, after: int, limit: int = REPLAY_PAGE) -> list[StoredEvent]:
        """Read committed events after `after`, in order."""
        rows = await RunEvent.after(self._database, run_id, after, limit)
        return [StoredEvent(run_id, int(row["seq"]), str(row["type"]), row["data"]) for row in rows]

    async def is_over(self, run_id: UUID, after: int) -> bool:
        """Whether the run's log has ended and holds nothing after `after`."""
        # The end first: once it is logged nothing is appended, so the read settles it.
        if not await RunEvent.log_is_closed(self._database, run_id):
            return False
        return not await self.read(run_id, after, limit=1)

    async def follow(self, run_id: UUID, after: int) -> AsyncGenerator[StoredEvent, None]:
        """Replay from the database after `after`, then follow live until the terminal event."""
        last = after
        while True:
            events = self.hub.tail_after(run_id, last)
            if not events:
                try:
                    # Ask whether the log is closed *before* reading: a terminal event
                    # committed between the two queries is then still read, never skipped.
                    ended = await RunEvent.log_is_closed(self._database, run_id)
                    events = await self.read(run_id, last)
                except UNAVAILABLE_ERRORS as exc:
                    # The database is saturated or briefly gone: the client stays
                    # connected and the follower tries again, rather than ending the stream.
                    self._follow_failed(exc)
                    if self.draining:
                        return
                    await asyncio.sleep(self.poll_seconds)
                    continue
                if not events and ended:
                    return  # nothing after `last` in an ended or deleted run (or past its end)
            for event in events:
                yield event
                last = event.seq
                if event.type in TERMINAL_EVENT_TYPES:
                    return
            if len(events) < REPLAY_PAGE:
                if self.draining and not events:
                    return  # the client resumes from `last` on another process
                await self.hub.wait(run_id, last, self.poll_seconds)
