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
from functools import lru_cache
from typing import Any
from uuid import UUID

from tortoise.transactions import in_transaction

from models import Run, RunEvent
from project.errors import UNAVAILABLE_ERRORS, ErrorCode, NotFound
from services.clock import utcnow
from services.group_commit import GroupCommitter
from services.notifier import notify_in_transaction
from services.raw_sql import execute_sql, fetch_rows, json_value
from services.row_locks import lock_in_id_order
from services.stream_hub import StoredEvent, StreamHub

log = logging.getLogger("terrapin.events")

TERMINAL_EVENTS = frozenset({"done", "error"})
REPLAY_PAGE = 500

_EVENTS_AFTER_SQL = (
    "SELECT seq, type, data FROM run_event WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
)
# The terminal event types as an SQL list, for hand-written queries.
TERMINAL_EVENTS_SQL = ", ".join(f"'{event_type}'" for event_type in sorted(TERMINAL_EVENTS))
_CHECKPOINT_SQL = "UPDATE message SET content = $1, updated_at = $2 WHERE id = $3"
_ENDED_SQL = (
    f"SELECT 1 FROM run_event WHERE run_id = $1 AND type IN ({TERMINAL_EVENTS_SQL}) LIMIT 1"
)


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
    type: str
    data: dict[str, Any]
    checkpoint: TextCheckpoint | None = None


async def write_events(
    drafts: Sequence[EventDraft], origin: str | None = None
) -> list[StoredEvent | BaseException]:
    """Append a batch of events in one transaction, numbering them per run."""
    async with in_transaction():
        return await append_events_in_transaction(drafts, origin=origin)


async def append_events_in_transaction(
    drafts: Sequence[EventDraft], *, runs_locked: bool = False, origin: str | None = None
) -> list[StoredEvent | BaseException]:
    """Append events inside the caller's transaction (publish them after its commit).

    `runs_locked`: the transaction already holds the row locks of the drafts' runs.
    `origin`: the hub the caller publishes them to (`EventLog.origin`), if any.
    """
    outcomes: list[StoredEvent | BaseException] = [
        NotFound("Run not found.", code=ErrorCode.RUN_NOT_FOUND) for _ in drafts
    ]
    run_ids = {draft.run_id for draft in drafts}
    ending = {d.run_id for d in drafts if d.type in TERMINAL_EVENTS}
    if len(run_ids) > 1 or (ending and not runs_locked):
        # Several runs are locked in id order, even if the caller holds them
        # (the count bump would lock them in scan order), and a run's end is
        # checked under its lock. Otherwise the bump's UPDATE is the lock: the
        # run row is still the first row locked.
        await lock_in_id_order(Run, run_ids)
    # A run's log has at most one terminal event: a second end (say, the
    # sweeper's repair racing a slow canceller) is refused, not logged.
    ended = await _ended_runs(ending)
    per_run: dict[UUID, list[int]] = defaultdict(list)
    for index, draft in enumerate(drafts):
        if draft.type in TERMINAL_EVENTS:
            if draft.run_id in ended:
                outcomes[index] = RunAlreadyEnded(draft.run_id)
                continue
            ended.add(draft.run_id)
        per_run[draft.run_id].append(index)
    counts = await _bump_event_counts(per_run)
    rows: list[RunEvent] = []
    now = utcnow()
    for run_id, members in per_run.items():
        if run_id not in counts:
            continue
        first = counts[run_id] - len(members) + 1
        for offset, index in enumerate(members):
            draft = drafts[index]
            seq = first + offset
            rows.append(
                RunEvent(run_id=run_id, seq=seq, type=draft.type, data=draft.data, created_at=now)
            )
            outcomes[index] = StoredEvent(run_id, seq, draft.type, draft.data)
    if rows:
        await RunEvent.bulk_create(rows)
        await _store_checkpoints(drafts, outcomes)
        await notify_in_transaction((o for o in outcomes if isinstance(o, StoredEvent)), origin)
    return outcomes


async def _store_checkpoints(
    drafts: Sequence[EventDraft], outcomes: Sequence[StoredEvent | BaseException]
) -> None:
    # In the events' transaction: a stored message never holds less text than its logged
    # deltas, whenever the process dies.
    latest: dict[UUID, str] = {}
    for draft, outcome in zip(drafts, outcomes, strict=True):
        if draft.checkpoint is not None and isinstance(outcome, StoredEvent):
            latest[draft.checkpoint.message_id] = draft.checkpoint.content
    now = utcnow()
    for message_id, content in latest.items():
        await execute_sql(_CHECKPOINT_SQL, content, now, message_id)


async def _ended_runs(run_ids: set[UUID]) -> set[UUID]:
    """Those of `run_ids` whose log already holds a terminal event."""
    if not run_ids:
        return set()
    rows = await execute_sql(_ended_runs_sql(len(run_ids)), *run_ids)
    return {UUID(str(row["run_id"])) for row in rows}


async def _bump_event_counts(per_run: dict[UUID, list[int]]) -> dict[UUID, int]:
    """Allocate each run's seqs; return its event count after the bump."""
    if not per_run:
        return {}
    by_increment: dict[int, list[UUID]] = defaultdict(list)
    for run_id, members in per_run.items():
        by_increment[len(members)].append(run_id)
    counts: dict[UUID, int] = {}
    for increment, run_ids in by_increment.items():
        # RETURNING gives the new counts: no second query to read them back.
        rows = await execute_sql(_bump_sql(len(run_ids)), increment, *run_ids)
        counts.update({UUID(str(row["id"])): int(row["event_count"]) for row in rows})
    return counts


def _id_list(count: int, first: int) -> str:
    return ", ".join(f"${index}" for index in range(first, first + count))


@lru_cache(maxsize=16)
def _ended_runs_sql(runs: int) -> str:
    return (
        f"SELECT DISTINCT run_id FROM run_event WHERE run_id IN ({_id_list(runs, 1)}) "
        f"AND type IN ({TERMINAL_EVENTS_SQL})"
    )


@lru_cache(maxsize=16)
def _bump_sql(runs: int) -> str:
    return (
        "UPDATE run SET event_count = event_count + $1 "
        f"WHERE id IN ({_id_list(runs, 2)}) RETURNING id, event_count"
    )


class EventLog:
    """Append events durably and stream them to any number of followers."""

    def __init__(
        self, hub: StreamHub, poll_seconds: float, *, max_batch: int, max_wait_seconds: float
    ) -> None:
        self.writer: GroupCommitter[EventDraft, StoredEvent] = GroupCommitter(
            self._write_batch,
            max_batch=max_batch,
            max_wait_seconds=max_wait_seconds,
            name="event-writer",
        )
        self.hub = hub
        self.poll_seconds = poll_seconds
        # Set when the server shuts down: followers stop once they are caught up.
        self.draining = False
        # Called with the final status of every run that ends here (metrics).
        self.on_run_finished: Callable[[str], None] | None = None

    async def emit(
        self,
        run_id: UUID,
        type_: str,
        data: dict[str, Any],
        checkpoint: TextCheckpoint | None = None,
    ) -> StoredEvent:
        """Append one event (and its text checkpoint); returns once committed and published."""
        return await self.writer.submit(EventDraft(run_id, type_, data, checkpoint))

    async def _write_batch(self, drafts: Sequence[EventDraft]) -> list[StoredEvent | BaseException]:
        """Commit a batch, then wake followers.

        Published here, not by `emit`'s caller: a batch commits even when the
        caller was cancelled meanwhile, and the listener skips this process's
        own notifications, so nothing else would wake the local followers.
        """
        outcomes = await write_events(drafts, origin=self.origin)
        self.publish(outcomes)
        return outcomes

    @property
    def origin(self) -> str:
        """Pass as `origin` when appending events that are then given to `publish`."""
        return self.hub.origin

    def publish(self, events: Sequence[StoredEvent | BaseException]) -> None:
        """Wake followers for events just committed (by `emit` or the caller's transaction)."""
        stored = [event for event in events if isinstance(event, StoredEvent)]
        self.hub.publish(stored)
        for event in stored:
            if event.type in TERMINAL_EVENTS and self.on_run_finished is not None:
                self.on_run_finished(str(event.data.get("status", "unknown")))

    # Every open stream runs these two reads, so they are hand-written (services/raw_sql.py).
    async def read(self, run_id: UUID, after: int, limit: int = REPLAY_PAGE) -> list[StoredEvent]:
        """Read committed events after `after`, in order."""
        rows = await fetch_rows(_EVENTS_AFTER_SQL, run_id, after, limit)
        return [
            StoredEvent(run_id, int(row["seq"]), str(row["type"]), json_value(row["data"]))
            for row in rows
        ]

    async def _ended(self, run_id: UUID) -> bool:
        """Whether the run's terminal event is logged (nothing can follow it)."""
        return bool(await fetch_rows(_ENDED_SQL, run_id))

    async def follow(self, run_id: UUID, after: int) -> AsyncGenerator[StoredEvent, None]:
        """Replay from the database after `after`, then follow live until the terminal event."""
        last = after
        while True:
            events = self.hub.tail_after(run_id, last)
            if not events:
                try:
                    # Ask whether the run ended *before* reading: a terminal event committed
                    # between the two queries is then still read, never skipped.
                    ended = await self._ended(run_id)
                    events = await self.read(run_id, last)
                except UNAVAILABLE_ERRORS:
                    # The database is saturated or briefly gone: the client stays
                    # connected and the follower tries again, rather than ending the stream.
                    log.warning("following run %s: database unavailable, retrying", run_id)
                    if self.draining:
                        return
                    await asyncio.sleep(self.poll_seconds)
                    continue
                if not events and ended:
                    return  # nothing after `last` in a finished run (or `last` is past its end)
            for event in events:
                yield event
                last = event.seq
                if event.type in TERMINAL_EVENTS:
                    return
            if len(events) < REPLAY_PAGE:
                if self.draining and not events:
                    return  # the client resumes from `last` on another process
                await self.hub.wait(run_id, last, self.poll_seconds)
